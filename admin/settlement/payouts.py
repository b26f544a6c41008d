"""Payout adapters: Stripe Connect transfers, and a test-only recording fake.

Stripe: separate charges and transfers. Each order's PaymentIntent carries the
order's `transfer_group` (`order-<public id>`, shop/operations/checkout.py); payouts
are not made per order but per settlement: one transfer per settlement, its
`transfer_group` the settlement's own (it pays many orders' sales at once), its
idempotency key derived from the settlement id and attempt (kept while an attempt's
outcome is unknown). Before a new attempt the group is searched, so a transfer made
by an attempt whose answer was lost is adopted instead of sent again. Tested at its
edge with recorded request/response pairs (tests/admin/test_settlement_payouts.py),
and end to end against our test double of Connect on localstripe
(tests/merchants/test_connect.py, marketplace/localstripe_connect.py).
"""

from __future__ import annotations

import fcntl
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import stripe
from flask import current_app

from marketplace.payments import gateway

log = logging.getLogger(__name__)


class PayoutError(Exception):
    """The transfer was refused or failed; safe to retry with a new attempt."""


@dataclass(frozen=True)
class Transfer:
    id: str
    amount_cents: int
    destination: str


class Payouts(Protocol):
    def find(self, transfer_group: str) -> Transfer | None: ...

    def transfer(
        self,
        amount_cents: int,
        destination: str,
        transfer_group: str,
        key: str,
        metadata: dict[str, str],
    ) -> Transfer: ...


class StripeConnectPayouts:
    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    def find(self, transfer_group: str) -> Transfer | None:
        try:
            page = self.client.v1.transfers.list(
                params={"transfer_group": transfer_group, "limit": 1}
            )
        except stripe.StripeError as exc:
            raise PayoutError(type(exc).__name__) from exc
        for found in page.data:
            return Transfer(found.id, found.amount, str(found.destination))
        return None

    def transfer(
        self,
        amount_cents: int,
        destination: str,
        transfer_group: str,
        key: str,
        metadata: dict[str, str],
    ) -> Transfer:
        try:
            made = self.client.v1.transfers.create(
                params={
                    "amount": amount_cents,
                    "currency": "eur",
                    "destination": destination,
                    "transfer_group": transfer_group,
                    "metadata": metadata,
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            log.warning("stripe transfer %s failed: %s", transfer_group, type(exc).__name__)
            raise PayoutError(getattr(exc, "user_message", None) or type(exc).__name__) from exc
        return Transfer(made.id, made.amount, str(made.destination))


class RecordingPayouts:
    """TEST ONLY: transfers appended to a JSON-lines file (shared by the test and a
    real worker process), idempotent by key like Stripe; `fail_first` refuses the
    first N attempts of each transfer group."""

    def __init__(self, path: str | Path, fail_first: int = 0) -> None:
        self.path = Path(path)
        self.fail_first = fail_first

    def _lines(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def find(self, transfer_group: str) -> Transfer | None:
        for row in self._lines():
            if row["group"] == transfer_group and row["ok"]:
                return Transfer(str(row["id"]), int(str(row["amount"])), str(row["destination"]))
        return None

    def transfer(
        self,
        amount_cents: int,
        destination: str,
        transfer_group: str,
        key: str,
        metadata: dict[str, str],
    ) -> Transfer:
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rows = self._lines()
            for row in rows:
                if row["key"] == key:  # idempotent replay, as Stripe does
                    if not row["ok"]:
                        raise PayoutError("replayed failure")
                    return Transfer(str(row["id"]), amount_cents, destination)
            tries = sum(1 for row in rows if row["group"] == transfer_group)
            ok = tries >= self.fail_first
            row = {
                "id": f"tr_fake_{len(rows) + 1}",
                "key": key,
                "group": transfer_group,
                "amount": amount_cents,
                "destination": destination,
                "ok": ok,
            }
            with self.path.open("a") as out:
                out.write(json.dumps(row) + "\n")
        if not ok:
            raise PayoutError("fake transfer refused")
        return Transfer(str(row["id"]), amount_cents, destination)


def payouts() -> Payouts:
    """The app's payout adapter: Stripe Connect, or the test recorder when set."""
    ext = current_app.extensions
    if "settlement_payouts" not in ext:
        recorder = current_app.config.get("SETTLEMENT_TEST_PAYOUTS_FILE")
        if recorder:
            fail_first = int(current_app.config.get("SETTLEMENT_TEST_PAYOUTS_FAIL_FIRST", 0))
            ext["settlement_payouts"] = RecordingPayouts(recorder, fail_first)
        else:
            ext["settlement_payouts"] = StripeConnectPayouts(gateway().client)
    payout_adapter: Payouts = ext["settlement_payouts"]
    return payout_adapter
