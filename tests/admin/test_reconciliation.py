"""Reconciliation of the ledger with Stripe's balance transactions.

Stripe is the session's localstripe server, read by the real stripe-python client;
its Connect accounts and transfers, and the balance transaction filters, come from
our test double of what localstripe lacks (marketplace/localstripe_connect.py). The
server's store is emptied first: the reconciliation lists everything in a period.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from admin import tasks
from admin.settlement import reconciliation as rec
from admin.settlement.models import (
    DifferenceKind,
    PayoutMethod,
    ReconciliationDifference,
    ReconciliationReport,
)
from admin.settlement.operations import PARIS, week_of
from admin.settlement.payouts import StripeConnectPayouts
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.payments import gateway
from merchants.models import PayoutAccount
from shop.models import OrderStatus, SubOrderStatus
from shop.operations import refunds as refund_ops
from shop.operations.orders import transition
from tests.admin.test_settlement import settle_week
from tests.factories import DEFAULT_PASSWORD, UserFactory, give_credit
from tests.helpers import csrf_token, login
from tests.shop import test_orders
from tests.shop.test_wallet import (  # noqa: F401 - wallet_paid is a fixture
    checkout_with_wallet,
    last_order,
    wallet_paid,
)

two_shops = test_orders.two_shops
_paid = test_orders.paid
D = DifferenceKind


@pytest.fixture
def stripe_clean(app: Any) -> datetime:
    """An empty localstripe; returns the start of the test's period."""
    app.extensions["localstripe"].flush()
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


@pytest.fixture
def paid(stripe_clean: datetime, _paid: dict[str, Any]) -> dict[str, Any]:
    """A real checkout paid through localstripe (4 630 cents), booked by its webhook."""
    return {**_paid, "start": stripe_clean}


def period(start: datetime) -> tuple[datetime, datetime]:
    return start, datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)


def onboard(account_id: str) -> None:
    """The owner through (the test double of) Stripe's hosted onboarding."""
    url = gateway().onboarding_link(account_id, "http://comptoir.test/r", "http://comptoir.test/ok")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as found:
        opener.open(url, timeout=5)
    assert found.value.code == 302
    assert found.value.headers["Location"] == "http://comptoir.test/ok"


def intent_paid(amount: int) -> str:
    """A PaymentIntent paid in Stripe (nothing booked)."""
    intent = gateway().create_intent(amount, {"test": "reconciliation"}, uuid.uuid4().hex)
    method = gateway().create_test_card_method(
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    )
    assert gateway().confirm_with(intent.id, method).status == "succeeded"
    return intent.id


def book_payment(intent_id: str, amount: int, shop_id: int) -> None:
    ledger.post(
        "payment",
        f"payment:{intent_id}",
        "Paiement de test",
        [(ledger.STRIPE_CLEARING, amount), (ledger.shop_payable(shop_id), -amount)],
    )


def diffs(report: ReconciliationReport) -> list[tuple[Any, ...]]:
    return [
        (d.kind, d.object_type, d.stripe_id, d.stripe_cents, d.ledger_cents)
        for d in report.differences
    ]


# --- Stripe and the ledger agree ----------------------------------------------------------


def test_clean_period_payment_refund_and_connect_transfer_have_no_difference(
    app: Any, paid: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop_a, sub_a = paid["a"], paid["sub_a"]
    intent_id = paid["order"].payments[0].intent_id
    # A refund through the shop's real refund (Stripe, then the ledger).
    refund = refund_ops.refund(paid["sub_b"], None, "system", amount_cents=650, reason="abîmé")
    assert refund.provider_refund_id and refund.provider_refund_id.startswith("re_")
    # Shop a is onboarded on Connect; its collected sale is paid by a real transfer.
    account = gateway().create_connected_account(shop_a.id, "express")
    onboard(account.id)
    assert gateway().retrieve_account(account.id).payouts_enabled
    db.session.add(
        PayoutAccount(shop_id=shop_a.id, stripe_account_id=account.id, payouts_enabled=True)
    )
    for status in (SubOrderStatus.ACCEPTED, SubOrderStatus.READY, SubOrderStatus.COLLECTED):
        transition(sub_a, status, None, "system")
    db.session.commit()
    monkeypatch.setitem(
        app.extensions, "settlement_payouts", StripeConnectPayouts(gateway().client)
    )
    settlement = settle_week(week_of(datetime.now(UTC)))[shop_a.id]
    assert settlement.payout_method is PayoutMethod.STRIPE
    assert settlement.transfer_id and settlement.transfer_id.startswith("tr_")

    report = rec.reconcile(*period(paid["start"]))
    db.session.commit()
    assert diffs(report) == []
    assert report.difference_count == 0
    assert report.stripe_count == report.ledger_count == 3
    expected = 4630 - 650 - settlement.payout_cents
    assert report.stripe_cents == report.ledger_cents == expected
    # What Stripe holds, as read through the client: the three movements.
    moves = rec.stripe_movements(*period(paid["start"]))
    assert sorted((m.object_type, m.stripe_id, m.amount_cents) for m in moves) == sorted(
        [
            ("payment", intent_id, 4630),
            ("refund", refund.provider_refund_id, -650),
            ("transfer", settlement.transfer_id, -settlement.payout_cents),
        ]
    )


# --- each difference, precisely -----------------------------------------------------------


def test_a_refund_made_in_stripe_only_is_reported(app: Any, paid: dict[str, Any]) -> None:
    intent_id = paid["order"].payments[0].intent_id
    refund_id = gateway().refund(intent_id, 500, key="dashboard-refund")
    report = rec.reconcile(*period(paid["start"]))
    assert diffs(report) == [(D.MISSING_IN_LEDGER, "refund", refund_id, -500, None)]
    (difference,) = report.differences
    assert difference.balance_transaction_id and difference.balance_transaction_id.startswith(
        "txn_"
    )
    assert difference.ledger_reference is None


def test_a_ledger_payment_without_stripe_is_reported(app: Any, paid: dict[str, Any]) -> None:
    book_payment("pi_never_in_stripe", 1234, paid["a"].id)
    report = rec.reconcile(*period(paid["start"]))
    assert diffs(report) == [(D.MISSING_IN_STRIPE, "payment", "pi_never_in_stripe", None, 1234)]
    assert report.differences[0].ledger_reference == "payment:pi_never_in_stripe"


def test_a_changed_amount_is_reported_with_both_amounts(app: Any, paid: dict[str, Any]) -> None:
    intent_id = intent_paid(1000)
    book_payment(intent_id, 900, paid["a"].id)
    report = rec.reconcile(*period(paid["start"]))
    assert diffs(report) == [(D.AMOUNT_MISMATCH, "payment", intent_id, 1000, 900)]
    assert report.stripe_cents - report.ledger_cents == 100


def test_all_three_at_once_and_a_second_run_replaces_the_report(
    app: Any, paid: dict[str, Any]
) -> None:
    intent_id = paid["order"].payments[0].intent_id
    refund_id = gateway().refund(intent_id, 300, key="dashboard-refund-2")
    book_payment("pi_ledger_only", 700, paid["a"].id)
    changed = intent_paid(2500)
    book_payment(changed, 2600, paid["a"].id)
    first, last = period(paid["start"])
    report = rec.reconcile(first, last)
    db.session.commit()
    assert sorted(diffs(report), key=str) == sorted(
        [
            (D.MISSING_IN_LEDGER, "refund", refund_id, -300, None),
            (D.MISSING_IN_STRIPE, "payment", "pi_ledger_only", None, 700),
            (D.AMOUNT_MISMATCH, "payment", changed, 2500, 2600),
        ],
        key=str,
    )
    again = rec.reconcile(first, last)
    db.session.commit()
    assert again.id == report.id and again.difference_count == 3
    assert db.session.scalar(select(func.count()).select_from(ReconciliationReport)) == 1
    assert db.session.scalar(select(func.count()).select_from(ReconciliationDifference)) == 3


def test_a_movement_booked_just_after_midnight_is_no_difference() -> None:
    """The margin: each side is searched a day around the period."""
    start, end = rec.days(datetime(2026, 11, 20).date(), datetime(2026, 11, 20).date())
    at_stripe = end - timedelta(seconds=1)
    at_ledger = end + timedelta(seconds=2)
    stripe_side = [rec.Movement("payment", "pi_1", 1500, at_stripe, None, "txn_1")]
    ledger_side = [rec.Movement("payment", "pi_1", 1500, at_ledger, "payment:pi_1")]
    assert rec.compare(stripe_side, ledger_side, start, end) == []
    # Outside the margin, it is a difference.
    assert [d.kind for d in rec.compare(stripe_side, [], start, end)] == [D.MISSING_IN_LEDGER]


def test_days_are_paris_days_in_utc() -> None:
    start, end = rec.days(datetime(2026, 10, 25).date(), datetime(2026, 10, 25).date())
    assert start == datetime(2026, 10, 24, 22, tzinfo=UTC)  # CEST
    assert end == datetime(2026, 10, 25, 23, tzinfo=UTC)  # CET: a 25-hour day
    now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    assert rec.previous_day(now) == rec.days(
        datetime(2026, 11, 23).date(), datetime(2026, 11, 23).date()
    )


# --- the command, the task and the page ---------------------------------------------------


def test_command_reports_the_period_and_fails_on_a_difference(
    app: Any, runner: Any, paid: dict[str, Any]
) -> None:
    today = datetime.now(PARIS).date().isoformat()
    result = runner.invoke(args=["comptoir", "reconcile", "--from", today, "--to", today])
    assert result.exit_code == 0, result.output
    assert "0 difference(s)" in result.output
    book_payment("pi_cli_only", 4200, paid["a"].id)
    db.session.commit()
    result = runner.invoke(args=["comptoir", "reconcile", "--from", today])
    assert result.exit_code == 1
    assert "missing_in_stripe payment pi_cli_only stripe=- ledger=42.00 EUR" in result.output
    assert "camille" not in result.output.lower()  # ids and amounts, no personal data


def test_command_names_the_wrong_option(app: Any, runner: Any) -> None:
    result = runner.invoke(
        args=["comptoir", "reconcile", "--from", "2026-11-20", "--to", "2026-11-19"]
    )
    assert result.exit_code == 2 and "--to" in result.output
    result = runner.invoke(args=["comptoir", "reconcile", "--from", "20/11/2026"])
    assert result.exit_code == 2 and "--from" in result.output
    assert db.session.scalar(select(func.count()).select_from(ReconciliationReport)) == 0


def test_daily_task_reconciles_yesterday_once(app: Any, stripe_clean: datetime) -> None:
    assert tasks.reconcile.delay().get() == 0
    assert tasks.reconcile.delay().get() == 0
    reports = db.session.scalars(select(ReconciliationReport)).all()
    assert [(r.period_start, r.period_end) for r in reports] == [rec.previous_day()]
    assert "admin-reconcile" in tasks.BEAT_SCHEDULE


def test_staff_see_the_differences_on_the_settlement_page(
    app: Any, client: Any, paid: dict[str, Any]
) -> None:
    book_payment("pi_shown_on_page", 1234, paid["a"].id)
    rec.reconcile(*period(paid["start"]))
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/reversements")
    assert page.status_code == 200
    assert "Rapprochement avec Stripe" in page.text
    assert "pi_shown_on_page" in page.text and "dans le registre, absent de Stripe" in page.text
    assert "12,34" in page.text
    full = client.get("/collectivite/rapprochements")
    assert full.status_code == 200 and "pi_shown_on_page" in full.text
    assert "Camille" not in full.text


def test_staff_run_a_day_and_a_bad_day_is_named(
    app: Any, client: Any, stripe_clean: datetime
) -> None:
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/collectivite/rapprochements")
    bad = client.post("/collectivite/rapprochements", data={"day": "hier", "csrf_token": token})
    assert bad.status_code == 422 and "Jour : une date" in bad.text
    assert 'aria-invalid="true"' in bad.text
    today = datetime.now(PARIS).date().isoformat()
    unfinished = client.post(
        "/collectivite/rapprochements", data={"day": today, "csrf_token": token}
    )
    assert unfinished.status_code == 422 and "jours terminés" in unfinished.text
    assert db.session.scalar(select(func.count()).select_from(ReconciliationReport)) == 0
    day = (datetime.now(PARIS) - timedelta(days=2)).date()
    done = client.post(
        "/collectivite/rapprochements", data={"day": day.isoformat(), "csrf_token": token}
    )
    assert done.status_code == 302
    report = db.session.scalars(select(ReconciliationReport)).one()
    assert (report.period_start, report.period_end) == rec.days(day, day)


def test_reconciliation_pages_are_for_staff_only(app: Any, client: Any) -> None:
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get("/collectivite/rapprochements").status_code == 403
    token = csrf_token(client, "/")
    response = client.post(
        "/collectivite/rapprochements", data={"day": "2026-11-20", "csrf_token": token}
    )
    assert response.status_code == 403


def test_stripe_unreachable_fails_the_command_and_writes_nothing(
    app: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketplace.payments import PaymentGateway

    down = PaymentGateway("sk_test_down", "http://127.0.0.1:9", "whsec_x")
    monkeypatch.setitem(app.extensions, "payments", down)
    result = runner.invoke(args=["comptoir", "reconcile", "--from", "2026-11-20"])
    assert result.exit_code == 1
    assert "Stripe n'a pas donné ses mouvements de solde." in result.output
    assert db.session.scalar(select(func.count()).select_from(ReconciliationReport)) == 0


# --- orders paid partly or wholly with wallet credit ---------------------------------------


@pytest.fixture
def wallet_paid_clean(stripe_clean: datetime, wallet_paid: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """A checkout paid 10,00 € by wallet credit and 22,90 € by card (localstripe)."""
    return {**wallet_paid, "start": stripe_clean}


def test_wallet_credit_makes_no_difference_with_stripe(
    app: Any, client: Any, wallet_paid_clean: dict[str, Any]
) -> None:
    paid = wallet_paid_clean
    intent_id = paid["order"].payments[0].intent_id
    # Refunded in full: 19,90 then 3,00 to the card, 10,00 to the wallet.
    first = refund_ops.refund(paid["sub_a"], None, "system", amount_cents=1990)
    second = refund_ops.refund(paid["sub_b"], None, "system", amount_cents=1300)
    assert (first.card_cents, second.card_cents, second.wallet_cents) == (1990, 300, 1000)
    # An order the wallet pays alone has nothing in Stripe, nor on stripe:clearing.
    rich = UserFactory(roles=[Role.RESIDENT])
    give_credit(rich, 5000)
    db.session.commit()
    login(client, rich.email, DEFAULT_PASSWORD)
    checkout_with_wallet(client, paid)
    wallet_only = last_order(rich)
    assert wallet_only.status is OrderStatus.PAID and wallet_only.card_cents == 0
    refund_ops.refund(wallet_only.sub_orders[0], None, "system", amount_cents=500)
    db.session.commit()

    report = rec.reconcile(*period(paid["start"]))
    db.session.commit()
    assert diffs(report) == []
    assert report.stripe_count == report.ledger_count == 3
    assert report.stripe_cents == report.ledger_cents == 2290 - 1990 - 300 == 0
    moves = rec.stripe_movements(*period(paid["start"]))
    assert sorted((m.object_type, m.amount_cents) for m in moves) == [
        ("payment", 2290),
        ("refund", -1990),
        ("refund", -300),
    ]
    assert {m.stripe_id for m in moves if m.object_type == "payment"} == {intent_id}
