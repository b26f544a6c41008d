"""Settlement: for each shop and period, fulfilled sales − refunds − commission TTC.

Rules (money in integer cents):
- A sale is a sub-order fulfilled (its first move to a FULFILLED status) before the
  settlement's cutoff: the period's end, or earlier when the territory's hold after
  fulfilment (default 7 days) had not passed when the run created the settlement;
  a sale still held waits for the shop's next settlement (every run makes one per
  shop), never lost; its amount is the sub-order's total (lines + delivery fee) and its
  commission the HT and VAT frozen on it at payment (rounded once per line then,
  never recomputed here).
- A refund counts when it succeeded before the period's end and its sub-order's sale
  is claimed (by this or an earlier settlement); its commission is the reversal
  frozen on the refund row.
- Each sale and refund is claimed by one settlement only (unique indexes), with
  set-based INSERT … SELECT, so a refund made after a settlement lands in the
  shop's next one, and anything a run missed is picked up by the next.
- payout = sales − refunds − (commission HT + VAT, net of reversals) + carry in.
  A negative result pays nothing and is carried into the shop's next settlement.
- Only a period that has ended can be settled (`start_run` refuses the others).
- Compute issues the commission invoice (or credit note) in its own transaction,
  numbered without gaps (invoices.py).
- Exactly once: one row per (shop, period start); compute and pay each lock the
  row and do nothing when already done; the payout's idempotency key is derived
  from the settlement id and attempt; its ledger transaction is posted once (by
  reference) in the same commit that marks it paid.

The functions add and flush; `compute` and `pay` commit (each step is its own
transaction so a crash resumes from the last committed step).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String, case, cast, func, insert, literal, null, select, text

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import AccountKind, Territory, utcnow
from merchants.models import Shop
from shop.models import Refund, SubOrder, SubOrderEvent, SubOrderStatus
from shop.operations.refunds import COURIER_METHODS, DELIVERY

from . import invoices, settings
from .models import PayoutAccount, PayoutMethod, Settlement, SettlementItem, SettlementStatus
from .payouts import PayoutError, payouts

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
# Collected in store, or delivered (by a courier, the shop or a carrier).
FULFILLED = (SubOrderStatus.COLLECTED, SubOrderStatus.DELIVERED)
SEPA_PENDING = ("sepa:pending", AccountKind.LIABILITY, "Virements SEPA à émettre")
ADVISORY_RUN = 0x5E771E  # pg_advisory_xact_lock key of a run
ADVISORY_SHOP = 0x5E7700000  # + shop id: one compute at a time per shop
S = SettlementStatus
_RUN_KEY = ["shop_id", "period_start"]


# --- periods ------------------------------------------------------------------------


def week_of(moment: datetime) -> tuple[datetime, datetime]:
    """The Monday 00:00 → Monday 00:00 Europe/Paris week holding `moment`, in UTC."""
    local = moment.astimezone(PARIS)
    monday: date = local.date() - timedelta(days=local.weekday())
    return _paris_midnight(monday), _paris_midnight(monday + timedelta(days=7))


def previous_week(now: datetime | None = None) -> tuple[datetime, datetime]:
    start, _ = week_of(now or utcnow())
    return week_of(start - timedelta(seconds=1))


def _paris_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)


# --- runs -----------------------------------------------------------------------------


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _advisory_lock(key: int) -> None:
    """Held until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    if _is_postgres():
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


class PeriodNotEnded(ValueError):
    """Only a period that has ended can be settled."""


def start_run(
    period_start: datetime, period_end: datetime, now: datetime | None = None
) -> list[int]:
    """One settlement per shop with sales for the period (created once: ON CONFLICT
    DO NOTHING), returning the ids of the period's settlements not yet paid.

    Raises PeriodNotEnded for a period that has not ended at `now`. Each new
    settlement claims the sales fulfilled before the period's end and at least
    its territory's hold before `now` (`sales_cutoff`); the others wait for the
    shop's next settlement."""
    now = now or utcnow()
    if period_end > now:
        raise PeriodNotEnded(period_end)
    _advisory_lock(ADVISORY_RUN)  # two runs at once: the second waits, then no-ops
    shops = select(Shop.id, Shop.territory_id).where(
        select(SubOrder.id).where(SubOrder.shop_id == Shop.id).exists()
    )
    cutoffs: dict[int, datetime] = {}
    rows = []
    for shop_id, territory_id in db.session.execute(shops):
        if territory_id not in cutoffs:
            hold = timedelta(days=settings.hold_days(db.session.get(Territory, territory_id)))
            cutoffs[territory_id] = min(period_end, now - hold)
        rows.append(
            {
                "shop_id": shop_id,
                "period_start": period_start,
                "period_end": period_end,
                "sales_cutoff": cutoffs[territory_id],
            }
        )
    if rows:
        values = [
            {**row, "status": S.PENDING.value, "created_at": now, "updated_at": now} for row in rows
        ]
        if _is_postgres():
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(Settlement).values(values)
            db.session.execute(pg.on_conflict_do_nothing(index_elements=_RUN_KEY))
        else:
            from sqlalchemy.dialects import sqlite

            lite = sqlite.insert(Settlement).values(values)
            db.session.execute(lite.on_conflict_do_nothing(index_elements=_RUN_KEY))
    return list(
        db.session.scalars(
            select(Settlement.id)
            .where(Settlement.period_start == period_start, Settlement.status != S.PAID)
            .order_by(Settlement.id)
        )
    )


def unfinished(unchanged_since: datetime) -> list[int]:
    """Settlements left pending, computed or paying and unchanged since
    `unchanged_since`: their task was lost (the broker restarted, a run died before
    enqueuing, a worker was killed); the resume task enqueues them again (settling
    is idempotent). One a worker is still paying changed when its attempt began, so
    a recent one is left to it. A failed one is left to its retries and staff's
    retry button."""
    return list(
        db.session.scalars(
            select(Settlement.id)
            .where(
                Settlement.status.in_([S.PENDING, S.COMPUTED, S.PAYING]),
                Settlement.updated_at < unchanged_since,
            )
            .order_by(Settlement.id)
        )
    )


# --- compute --------------------------------------------------------------------------


def _locked(settlement_id: int) -> Settlement | None:
    return db.session.scalar(
        select(Settlement)
        .where(Settlement.id == settlement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _claim(settlement: Settlement) -> None:
    """Claim the shop's unsettled sales fulfilled before the cutoff (the period's
    end, or earlier for a hold) and their refunds up to the period's end."""
    sid, end, cutoff = settlement.id, settlement.period_end, settlement.claims_until
    fulfilled = (
        select(
            SubOrderEvent.sub_order_id.label("sub_order_id"),
            func.min(SubOrderEvent.at).label("at"),
        )
        .join(SubOrder, SubOrder.id == SubOrderEvent.sub_order_id)
        .where(
            SubOrder.shop_id == settlement.shop_id,
            SubOrderEvent.to_status.in_(FULFILLED),
        )
        .group_by(SubOrderEvent.sub_order_id)
        .subquery()
    )
    claimed = SettlementItem.__table__.alias("claimed")
    # An express or standard delivery fee is the couriers' or the carrier's
    # (booked to platform:delivery at payment, taken back from it on refund), never
    # the shop's: only a fee for the shop's own delivery is part of its sales.
    by_courier = SubOrder.fulfilment_method.in_(COURIER_METHODS)
    shop_delivery_fee = case((by_courier, 0), else_=SubOrder.delivery_fee_cents)
    refunded_courier_fee = case(
        (by_courier, func.coalesce(Refund.allocation[DELIVERY].as_integer(), 0)), else_=0
    )
    sales = (
        select(
            literal(sid),
            literal("sale"),
            SubOrder.id,
            null(),
            fulfilled.c.at,
            SubOrder.items_cents + shop_delivery_fee,
            func.coalesce(SubOrder.commission_ht_cents, 0),
            func.coalesce(SubOrder.commission_vat_cents, 0),
        )
        .join(fulfilled, fulfilled.c.sub_order_id == SubOrder.id)
        .where(
            fulfilled.c.at < cutoff,
            ~select(claimed.c.id)
            .where(claimed.c.kind == "sale", claimed.c.sub_order_id == SubOrder.id)
            .exists(),
        )
    )
    columns = [
        "settlement_id",
        "kind",
        "sub_order_id",
        "refund_id",
        "occurred_at",
        "amount_cents",
        "commission_ht_cents",
        "commission_vat_cents",
    ]
    db.session.execute(insert(SettlementItem).from_select(columns, sales))
    refunds = (
        select(
            literal(sid),
            literal("refund"),
            Refund.sub_order_id,
            Refund.id,
            Refund.processed_at,
            Refund.amount_cents - refunded_courier_fee,
            Refund.commission_ht_cents,
            Refund.commission_vat_cents,
        )
        .join(SubOrder, SubOrder.id == Refund.sub_order_id)
        .where(
            SubOrder.shop_id == settlement.shop_id,
            Refund.status == "succeeded",
            Refund.processed_at < end,
            select(claimed.c.id)
            .where(claimed.c.kind == "sale", claimed.c.sub_order_id == Refund.sub_order_id)
            .exists(),
            ~select(claimed.c.id).where(claimed.c.refund_id == Refund.id).exists(),
        )
    )
    db.session.execute(insert(SettlementItem).from_select(columns, refunds))


@dataclass(frozen=True)
class Totals:
    sales_cents: int = 0
    sales_count: int = 0
    refunds_cents: int = 0
    refunds_count: int = 0
    commission_ht_cents: int = 0
    commission_vat_cents: int = 0


def _totals(settlement_id: int) -> Totals:
    """One GROUP BY over the settlement's items."""
    rows = db.session.execute(
        select(
            SettlementItem.kind,
            func.count(),
            func.coalesce(func.sum(SettlementItem.amount_cents), 0),
            func.coalesce(func.sum(SettlementItem.commission_ht_cents), 0),
            func.coalesce(func.sum(SettlementItem.commission_vat_cents), 0),
        )
        .where(SettlementItem.settlement_id == settlement_id)
        .group_by(SettlementItem.kind)
    ).all()
    by_kind = {kind: (int(n), int(a), int(ht), int(vat)) for kind, n, a, ht, vat in rows}
    sn, sa, sht, svat = by_kind.get("sale", (0, 0, 0, 0))
    rn, ra, rht, rvat = by_kind.get("refund", (0, 0, 0, 0))
    return Totals(sa, sn, ra, rn, sht - rht, svat - rvat)


def _carry_in(settlement: Settlement) -> Settlement | None:
    """The shop's latest negative balance not yet taken by another settlement."""
    taker = Settlement.__table__.alias("taker")
    return db.session.scalar(
        select(Settlement)
        .where(
            Settlement.shop_id == settlement.shop_id,
            Settlement.id != settlement.id,
            Settlement.carry_out_cents < 0,
            Settlement.status.in_([S.COMPUTED, S.PAYING, S.PAID, S.FAILED]),
            ~select(taker.c.id).where(taker.c.carried_from_id == Settlement.id).exists(),
        )
        .order_by(Settlement.period_start.desc(), Settlement.id.desc())
        .limit(1)
    )


def compute(settlement_id: int) -> Settlement | None:
    """pending → computed (no-op otherwise). Commits."""
    settlement = _locked(settlement_id)
    if settlement is None:
        db.session.rollback()
        return None
    if settlement.status is not S.PENDING:
        db.session.rollback()
        return settlement
    _advisory_lock(ADVISORY_SHOP + settlement.shop_id)
    _claim(settlement)
    totals = _totals(settlement.id)
    carry = _carry_in(settlement)
    settlement.sales_cents = totals.sales_cents
    settlement.sales_count = totals.sales_count
    settlement.refunds_cents = totals.refunds_cents
    settlement.refunds_count = totals.refunds_count
    settlement.commission_ht_cents = totals.commission_ht_cents
    settlement.commission_vat_cents = totals.commission_vat_cents
    settlement.carry_in_cents = carry.carry_out_cents if carry else 0
    settlement.carried_from_id = carry.id if carry else None
    net = (
        totals.sales_cents
        - totals.refunds_cents
        - totals.commission_ht_cents
        - totals.commission_vat_cents
        + settlement.carry_in_cents
    )
    settlement.payout_cents = max(net, 0)
    settlement.carry_out_cents = min(net, 0)
    account = db.session.get(PayoutAccount, settlement.shop_id)
    if settlement.payout_cents == 0:
        settlement.payout_method = PayoutMethod.NONE
    elif account is not None and account.payouts_enabled:
        # Stripe Connect only once Stripe enabled the account's payouts; else SEPA.
        settlement.payout_method = PayoutMethod.STRIPE
        settlement.destination = account.stripe_account_id
    else:
        settlement.payout_method = PayoutMethod.SEPA
    # The commission invoice (or credit note) takes its number in this transaction.
    invoices.issue(settlement)
    settlement.status = S.COMPUTED
    settlement.computed_at = utcnow()
    db.session.commit()
    return settlement


# --- pay ------------------------------------------------------------------------------


def _book(settlement: Settlement, credit: tuple[str, AccountKind, str]) -> None:
    ledger.post(
        "payout",
        f"payout:settlement:{settlement.id}",
        f"Reversement {settlement.period_start:%Y-%m-%d} boutique {settlement.shop_id}",
        [
            (ledger.shop_payable(settlement.shop_id), settlement.payout_cents),
            (credit, -settlement.payout_cents),
        ],
    )


def _mark_paid(settlement: Settlement) -> None:
    settlement.status = S.PAID
    settlement.paid_at = utcnow()
    settlement.last_error = None


def _connect_gone(settlement: Settlement) -> bool:
    """The settlement's connected account no longer takes payouts, and no transfer of
    this settlement exists at Stripe (one that does is adopted by `pay`)."""
    account = db.session.get(PayoutAccount, settlement.shop_id)
    if (
        account is not None
        and account.payouts_enabled
        and account.stripe_account_id == settlement.destination
    ):
        return False
    return payouts().find(settlement.transfer_group) is None


def pay(settlement_id: int) -> Settlement | None:
    """computed / failed / paying → paid, once. Commits. Raises PayoutError after
    recording the failure (the task retries it)."""
    settlement = _locked(settlement_id)
    if settlement is None or settlement.status in (S.PAID, S.PENDING):
        db.session.rollback()
        return settlement
    if settlement.payout_method is PayoutMethod.NONE:
        _mark_paid(settlement)
        db.session.commit()
        return settlement
    if settlement.payout_method is PayoutMethod.SEPA:
        # Owed by SEPA credit transfer: booked now, the pain.001 file comes later.
        _book(settlement, SEPA_PENDING)
        _mark_paid(settlement)
        db.session.commit()
        return settlement
    if settlement.status in (S.COMPUTED, S.FAILED) and _connect_gone(settlement):
        # Stripe disabled the shop's payouts since the compute, and nothing was
        # transferred: owed by SEPA instead of retrying a transfer Stripe refuses.
        log.warning("settlement %s: connected account disabled, paid by SEPA", settlement.id)
        settlement.payout_method = PayoutMethod.SEPA
        settlement.destination = None
        _book(settlement, SEPA_PENDING)
        _mark_paid(settlement)
        db.session.commit()
        return settlement
    if settlement.status in (S.COMPUTED, S.FAILED):
        # A new attempt, recorded before the call: a crash after it resumes with
        # the same idempotency key.
        settlement.attempts += 1
        settlement.status = S.PAYING
        db.session.commit()
        settlement = _locked(settlement_id)
        assert settlement is not None
        if settlement.status is not S.PAYING:  # someone else finished it meanwhile
            db.session.rollback()
            return settlement
    # The row lock is held during the call: a duplicate task waits, then sees paid.
    adapter = payouts()
    assert settlement.destination is not None
    try:
        transfer = adapter.find(settlement.transfer_group) or adapter.transfer(
            settlement.payout_cents,
            settlement.destination,
            settlement.transfer_group,
            settlement.idempotency_key,
            {"settlement_id": str(settlement.id), "shop_id": str(settlement.shop_id)},
        )
    except PayoutError as exc:
        settlement.status = S.FAILED
        settlement.last_error = str(exc)[:500]
        db.session.commit()
        raise
    if transfer.amount_cents != settlement.payout_cents:
        log.error("transfer %s amount differs from settlement %s", transfer.id, settlement.id)
    settlement.transfer_id = transfer.id
    _book(settlement, ledger.STRIPE_CLEARING)
    _mark_paid(settlement)
    db.session.commit()
    return settlement


def settle(settlement_id: int) -> Settlement | None:
    """compute then pay (each step resumable); a test-only pause between them."""
    settlement = compute(settlement_id)
    if settlement is None:
        return None
    pause = float(current_app.config.get("SETTLEMENT_TEST_PAUSE_SECONDS") or 0)
    if pause and settlement.status is S.COMPUTED:
        log.info("settlement %s computed; test pause of %s s before paying", settlement_id, pause)
        time.sleep(pause)
    return pay(settlement_id)


def can_retry(settlement: Settlement) -> bool:
    """Staff's retry button: anything not paid (failed, or stuck mid-way)."""
    return settlement.status is not S.PAID


# --- what the collectivité sees --------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    period_start: datetime
    period_end: datetime
    shops: int
    paid: int
    failed: int
    in_progress: int
    sales_cents: int
    refunds_cents: int
    commission_ttc_cents: int
    payout_cents: int
    carried_cents: int


def runs(limit: int = 26) -> list[RunSummary]:
    status = Settlement.status
    rows = db.session.execute(
        select(
            Settlement.period_start,
            func.min(Settlement.period_end),
            func.count(),
            func.count().filter(status == S.PAID),
            func.count().filter(status == S.FAILED),
            func.count().filter(status.in_([S.PENDING, S.COMPUTED, S.PAYING])),
            func.coalesce(func.sum(Settlement.sales_cents), 0),
            func.coalesce(func.sum(Settlement.refunds_cents), 0),
            func.coalesce(
                func.sum(Settlement.commission_ht_cents + Settlement.commission_vat_cents), 0
            ),
            func.coalesce(func.sum(Settlement.payout_cents), 0),
            func.coalesce(func.sum(Settlement.carry_out_cents), 0),
        )
        .group_by(Settlement.period_start)
        .order_by(Settlement.period_start.desc())
        .limit(limit)
    ).all()
    return [RunSummary(*(row[:2]), *(int(v) for v in row[2:])) for row in rows]


def run_settlements(period_start: datetime) -> list[tuple[Settlement, str]]:
    """The settlements of one run with their shop's name."""
    return [
        (s, name)
        for s, name in db.session.execute(
            select(Settlement, Shop.name)
            .join(Shop, Shop.id == Settlement.shop_id)
            .where(Settlement.period_start == period_start)
            .order_by(Settlement.status != S.FAILED, Shop.name)
        ).all()
    ]


def paris_month(column: Any) -> Any:
    """The Europe/Paris month ("2026-11") of a UTC timestamp column, as a label.
    (SQLite, the embedded mode, has no time zones: its month is the UTC one.)"""
    if _is_postgres():
        month = func.to_char(func.timezone("Europe/Paris", column), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", column)
    return cast(month, String).label("month")


def commission_by_month(limit: int = 24) -> list[tuple[str, int, int]]:
    """The platform's commission revenue (HT, VAT) per Europe/Paris month of the
    sales and refunds settled, net of reversals, from the settlement items."""
    sign = case((SettlementItem.kind == "sale", 1), else_=-1)
    label = paris_month(SettlementItem.occurred_at)
    rows = db.session.execute(
        select(
            label,
            func.sum(SettlementItem.commission_ht_cents * sign),
            func.sum(SettlementItem.commission_vat_cents * sign),
        )
        .group_by(label)
        .order_by(label.desc())
        .limit(limit)
    ).all()
    return [(str(m), int(ht or 0), int(vat or 0)) for m, ht, vat in rows]


def statement_rows(settlement_id: int) -> list[tuple[str, str, str, int, int, int, int]]:
    """The statement's lines: every sale and refund claimed, with its date, the
    sub-order reference, the amount, the commission HT and VAT, and the net."""
    rows = db.session.execute(
        select(
            SettlementItem.occurred_at,
            SettlementItem.kind,
            SubOrder.reference,
            SettlementItem.amount_cents,
            SettlementItem.commission_ht_cents,
            SettlementItem.commission_vat_cents,
        )
        .join(SubOrder, SubOrder.id == SettlementItem.sub_order_id)
        .where(SettlementItem.settlement_id == settlement_id)
        .order_by(SettlementItem.occurred_at, SettlementItem.id)
    ).all()
    lines = []
    for at, kind, reference, amount, ht, vat in rows:
        sign = 1 if kind == "sale" else -1
        lines.append(
            (
                at.astimezone(PARIS).isoformat(timespec="seconds"),
                kind,
                reference,
                sign * int(amount),
                sign * int(ht),
                sign * int(vat),
                sign * (int(amount) - int(ht) - int(vat)),
            )
        )
    return lines
