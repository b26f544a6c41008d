"""Reconciliation: the ledger compared with Stripe's balance transactions.

For a period, Stripe's balance transactions (every page) and the ledger's
transactions that moved `stripe:clearing` are reduced to movements keyed by the
Stripe object they concern, with Stripe's sign (money in positive, out negative):

- payment: a `charge` (or `payment`) by its PaymentIntent ↔ `payment:<intent>`;
- refund: a `refund` (or `payment_refund`) by its id ↔ `refund:<key>` (the Refund
  row's provider id);
- transfer: a `transfer` by its id ↔ `payout:settlement:<id>` (the settlement's
  transfer id).

Every key with a movement inside the period on either side is compared: in Stripe
and not in the ledger, in the ledger and not in Stripe, or both with different
amounts. The other side is searched in the period widened by a margin (24 h by
default), so a payment booked a few seconds after midnight is not a difference.
Other balance transactions (Stripe fees, payouts to the bank…) are not the ledger's.

The report keeps ids and amounts only (no names, no e-mails). One report per period:
running it again (the daily task retried, the command run by hand) replaces its
differences. The functions add and flush; the task or the command commits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerAccount, LedgerEntry, LedgerTransaction, utcnow
from marketplace.payments import gateway
from shop.models import Refund

from .models import DifferenceKind, ReconciliationDifference, ReconciliationReport, Settlement
from .operations import PARIS, _advisory_lock, _paris_midnight

log = logging.getLogger(__name__)

ADVISORY_RECONCILE = 0x5EC0_4C11E  # pg_advisory_xact_lock key: one report written at a time
STRIPE_KINDS = {
    "charge": "payment",
    "payment": "payment",
    "refund": "refund",
    "payment_refund": "refund",
    "transfer": "transfer",
}
LEDGER_KINDS = {"payment": "payment", "refund": "refund", "payout": "transfer"}
Key = tuple[str, str | None]


@dataclass(frozen=True)
class Movement:
    object_type: str  # payment, refund, transfer
    stripe_id: str | None  # None: a ledger movement whose Stripe id is unknown
    amount_cents: int
    at: datetime
    reference: str | None = None  # the ledger transaction's
    balance_transaction_id: str | None = None  # Stripe's


# --- periods ---------------------------------------------------------------------------


def days(first: date, last: date) -> tuple[datetime, datetime]:
    """From `first` 00:00 to the day after `last` 00:00, Europe/Paris, in UTC."""
    return _paris_midnight(first), _paris_midnight(last + timedelta(days=1))


def previous_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    yesterday = (now or utcnow()).astimezone(PARIS).date() - timedelta(days=1)
    return days(yesterday, yesterday)


def margin() -> timedelta:
    return timedelta(hours=float(current_app.config.get("RECONCILIATION_MARGIN_HOURS", 24)))


# --- both sides --------------------------------------------------------------------------


def stripe_movements(start: datetime, end: datetime) -> list[Movement]:
    """Stripe's payments, refunds and transfers created in [start, end).

    Raises PaymentError when Stripe cannot be read."""
    found = []
    for line in gateway().balance_transactions(start, end):
        kind = STRIPE_KINDS.get(line.type)
        if kind is None:
            continue
        stripe_id = (line.payment_intent or line.source_id) if kind == "payment" else line.source_id
        found.append(Movement(kind, stripe_id, line.amount_cents, line.created, None, line.id))
    return found


def ledger_movements(start: datetime, end: datetime) -> list[Movement]:
    """The ledger's payments, refunds and Stripe payouts posted in [start, end): the
    amount each moved on `stripe:clearing` (SEPA payouts never touch it)."""
    rows = db.session.execute(
        select(
            LedgerTransaction.kind,
            LedgerTransaction.reference,
            LedgerTransaction.occurred_at,
            func.sum(LedgerEntry.amount),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.code == ledger.STRIPE_CLEARING[0],
            LedgerTransaction.kind.in_(list(LEDGER_KINDS)),
            LedgerTransaction.occurred_at >= start,
            LedgerTransaction.occurred_at < end,
        )
        .group_by(LedgerTransaction.id)
        .order_by(LedgerTransaction.occurred_at, LedgerTransaction.id)
    ).all()
    refund_keys = [r.removeprefix("refund:") for k, r, _at, _a in rows if k == "refund"]
    refunds = dict(
        db.session.execute(
            select(Refund.idempotency_key, Refund.provider_refund_id).where(
                Refund.idempotency_key.in_(refund_keys)
            )
        ).all()
    )
    settlement_ids = [
        int(r.rsplit(":", 1)[1])
        for k, r, _at, _a in rows
        if k == "payout" and r.rsplit(":", 1)[1].isdigit()
    ]
    transfers = dict(
        db.session.execute(
            select(Settlement.id, Settlement.transfer_id).where(Settlement.id.in_(settlement_ids))
        ).all()
    )
    found = []
    for kind, reference, at, amount in rows:
        stripe_id: str | None
        if kind == "payment":
            stripe_id = reference.removeprefix("payment:")
        elif kind == "refund":
            stripe_id = refunds.get(reference.removeprefix("refund:"))
        else:
            tail = reference.rsplit(":", 1)[1]
            stripe_id = transfers.get(int(tail)) if tail.isdigit() else None
        found.append(Movement(LEDGER_KINDS[kind], stripe_id, int(amount), at, reference))
    return found


# --- comparison ------------------------------------------------------------------------


def _by_key(movements: Iterable[Movement]) -> dict[Key, list[Movement]]:
    grouped: dict[Key, list[Movement]] = defaultdict(list)
    for movement in movements:
        grouped[(movement.object_type, movement.stripe_id)].append(movement)
    return grouped


def compare(
    stripe_side: list[Movement], ledger_side: list[Movement], start: datetime, end: datetime
) -> list[ReconciliationDifference]:
    """Differences for every key with a movement in [start, end) on either side; each
    side's lists may reach outside the period (the margin)."""
    stripe_by, ledger_by = _by_key(stripe_side), _by_key(ledger_side)
    inside = {
        key
        for key, moves in [*stripe_by.items(), *ledger_by.items()]
        if any(start <= m.at < end for m in moves)
    }
    differences = []
    for object_type, stripe_id in sorted(inside, key=lambda k: (k[0], k[1] or "")):
        s = stripe_by.get((object_type, stripe_id), [])
        lm = ledger_by.get((object_type, stripe_id), [])
        stripe_cents = sum(m.amount_cents for m in s)
        ledger_cents = sum(m.amount_cents for m in lm)
        if stripe_id is None:  # booked, but its Stripe object is unknown: one per entry
            for movement in lm:
                differences.append(_difference(DifferenceKind.MISSING_IN_STRIPE, [], [movement]))
        elif not lm:
            differences.append(_difference(DifferenceKind.MISSING_IN_LEDGER, s, lm))
        elif not s:
            differences.append(_difference(DifferenceKind.MISSING_IN_STRIPE, s, lm))
        elif stripe_cents != ledger_cents:
            differences.append(_difference(DifferenceKind.AMOUNT_MISMATCH, s, lm))
    return differences


def _difference(
    kind: DifferenceKind, stripe_moves: list[Movement], ledger_moves: list[Movement]
) -> ReconciliationDifference:
    first = (stripe_moves or ledger_moves)[0]
    return ReconciliationDifference(
        kind=kind,
        object_type=first.object_type,
        stripe_id=first.stripe_id,
        balance_transaction_id=", ".join(
            m.balance_transaction_id for m in stripe_moves if m.balance_transaction_id
        )[:255]
        or None,
        ledger_reference=", ".join(m.reference for m in ledger_moves if m.reference)[:120] or None,
        stripe_cents=sum(m.amount_cents for m in stripe_moves) if stripe_moves else None,
        ledger_cents=sum(m.amount_cents for m in ledger_moves) if ledger_moves else None,
        occurred_at=min(m.at for m in [*stripe_moves, *ledger_moves]),
    )


# --- the report ------------------------------------------------------------------------


def reconcile(start: datetime, end: datetime) -> ReconciliationReport:
    """Compare [start, end) and store its report (replacing an earlier one for the
    same period). Raises PaymentError, with nothing written, if Stripe is unreachable."""
    if end <= start:
        raise ValueError("the period ends before it starts")
    wide = margin()
    stripe_side = stripe_movements(start - wide, end + wide)
    ledger_side = ledger_movements(start - wide, end + wide)
    differences = compare(stripe_side, ledger_side, start, end)
    _advisory_lock(ADVISORY_RECONCILE)  # two runs of a period: the second replaces
    report = db.session.scalar(
        select(ReconciliationReport)
        .where(ReconciliationReport.period_start == start, ReconciliationReport.period_end == end)
        .options(selectinload(ReconciliationReport.differences))
        .with_for_update()
    )
    if report is None:
        report = ReconciliationReport(period_start=start, period_end=end, ran_at=utcnow())
        db.session.add(report)
    report.differences.clear()
    db.session.flush()
    report.differences.extend(differences)
    in_stripe = [m for m in stripe_side if start <= m.at < end]
    in_ledger = [m for m in ledger_side if start <= m.at < end]
    report.ran_at = utcnow()
    report.stripe_count = len(in_stripe)
    report.stripe_cents = sum(m.amount_cents for m in in_stripe)
    report.ledger_count = len(in_ledger)
    report.ledger_cents = sum(m.amount_cents for m in in_ledger)
    report.difference_count = len(differences)
    db.session.flush()
    log.info(
        "reconciliation %s → %s: %d differences",
        start.isoformat(),
        end.isoformat(),
        len(differences),
    )
    return report


def latest_reports(limit: int = 10) -> list[ReconciliationReport]:
    """The most recent periods first, with their differences."""
    return list(
        db.session.scalars(
            select(ReconciliationReport)
            .options(selectinload(ReconciliationReport.differences))
            .order_by(ReconciliationReport.period_start.desc(), ReconciliationReport.id.desc())
            .limit(limit)
        )
    )
