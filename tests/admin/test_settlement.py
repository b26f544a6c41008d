"""Settlement: fulfilled sales − refunds − commission TTC, per shop and week, paid
exactly once; refunds after a settlement carried into the next; the staff page.

Orders are built as rows and booked with the shop's own payment entries
(`_book_payment`), refunds go through the shop's real `refund()` with the Stripe call
replaced by a stub (these tests are about settlement, not Stripe refunds).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from admin import tasks
from admin.settlement import operations as ops
from admin.settlement.models import (
    PayoutAccount,
    PayoutMethod,
    Settlement,
    SettlementItem,
    SettlementStatus,
)
from admin.settlement.payouts import RecordingPayouts, Transfer
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, LedgerEntry, LedgerTransaction, Role
from shop.models import (
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    SubOrder,
    SubOrderEvent,
    SubOrderStatus,
)
from shop.operations import refunds as refund_ops
from shop.operations import wallet as wallet_ops
from shop.operations.payments import _book_payment
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, give_credit
from tests.helpers import csrf_token, login
from tests.shop import test_orders

S = SettlementStatus
_ref = itertools.count(1)

# Monday 2026-10-19 00:00 Paris (CEST) → Monday 2026-10-26 00:00 Paris (CET).
WEEK = ops.week_of(datetime(2026, 10, 21, 12, tzinfo=UTC))
NEXT = ops.week_of(WEEK[1] + timedelta(hours=1))
IN_WEEK = WEEK[0] + timedelta(days=2)
IN_NEXT = NEXT[0] + timedelta(days=2)


# --- building paid, fulfilled and refunded sub-orders -------------------------------


class StubRefunds:
    """Stands in for the Stripe refund call of shop.operations.refunds."""

    def refund(self, intent_id: str, amount_cents: int, key: str) -> str:
        return f"re_stub_{key}"


@pytest.fixture(autouse=True)
def stub_stripe_refunds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refund_ops, "gateway", lambda: StubRefunds())


def paid_sub(
    shop: Any,
    lines: list[tuple[int, int]],
    delivery_fee: int = 0,
    resident: Any = None,
    method: FulfilmentMethod = FulfilmentMethod.CLICK_AND_COLLECT,
    wallet_cents: int = 0,
) -> SubOrder:
    """One paid order with one sub-order for `shop`, booked in the ledger; with
    `wallet_cents`, the resident is given that credit and the checkout's hold spends
    what it may of it (order.wallet_cents), the card the rest."""
    resident = resident or UserFactory(roles=[Role.RESIDENT])
    items = sum(price * qty for price, qty in lines)
    order = Order(
        checkout_key=uuid.uuid4(),
        user_id=resident.id,
        territory_id=shop.territory_id,
        status=OrderStatus.PAID,
        contact_name="Camille Martin",
        contact_email="camille@example.org",
        contact_phone="0600000000",
        total_cents=items + delivery_fee,
    )
    n = next(_ref)
    sub = SubOrder(
        shop_id=shop.id,
        reference=f"T{uuid.uuid4().hex[:10]}",
        status=SubOrderStatus.PAID,
        fulfilment_method=method,
        items_cents=items,
        delivery_fee_cents=delivery_fee,
        pickup_code="123456",
    )
    for i, (price, qty) in enumerate(lines):
        sub.lines.append(
            OrderLine(
                product_name=f"Produit {n}-{i}",
                sku=f"SKU-{n}-{i}",
                unit_price_cents=price,
                vat_rate_bp=2000,
                quantity=qty,
            )
        )
    order.sub_orders.append(sub)
    db.session.add(order)
    db.session.flush()
    if wallet_cents:
        give_credit(resident, wallet_cents)
        wallet_ops.hold(order)
    payment = Payment(
        intent_id=f"pi_test_{uuid.uuid4().hex}",
        client_secret="secret",
        amount_cents=order.card_cents,
        status=PaymentStatus.SUCCEEDED,
    )
    order.payments.append(payment)
    db.session.flush()
    _book_payment(order, payment)
    return sub


def collect(sub: SubOrder, at: datetime, to: SubOrderStatus = SubOrderStatus.COLLECTED) -> None:
    """The sub-order handed over (collected, or delivered) at `at`."""
    old = sub.status
    sub.status = to
    db.session.add(
        SubOrderEvent(
            sub_order_id=sub.id,
            from_status=old,
            to_status=to,
            actor_kind="system",
            at=at,
        )
    )
    db.session.flush()


def refund(sub: SubOrder, amount: int, at: datetime) -> Refund:
    row = refund_ops.refund(sub, None, "system", amount_cents=amount, reason="test")
    row.processed_at = at
    db.session.flush()
    return row


def entries_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))


def payable(shop: Any) -> int:
    return ledger.balance(ledger.shop_payable(shop.id)[0])


def settle_week(
    week: tuple[datetime, datetime], now: datetime | None = None
) -> dict[int, Settlement]:
    """Run the week (eagerly, as the task does) at `now` and return the settlements by
    shop. By default the run happens once the week has ended and the default 7-day
    hold has passed (the real time for past weeks; later for the current one)."""
    if now is None:
        now = max(datetime.now(UTC), week[1] + timedelta(days=7, hours=3))
    ids = ops.start_run(*week, now=now)
    db.session.commit()
    for settlement_id in ids:
        ops.settle(settlement_id)
    return {
        s.shop_id: s
        for s in db.session.scalars(
            select(Settlement)
            .where(Settlement.period_start == week[0])
            .execution_options(populate_existing=True)
        )
    }


def net(sub: SubOrder) -> int:
    return sub.total_cents - (sub.commission_ht_cents or 0) - (sub.commission_vat_cents or 0)


# --- periods ----------------------------------------------------------------------------


def test_weeks_are_paris_mondays_stored_in_utc_across_dst():
    assert (
        datetime(2026, 10, 18, 22, tzinfo=UTC),  # 00:00 CEST
        datetime(2026, 10, 25, 23, tzinfo=UTC),  # 00:00 CET: a 169-hour week
    ) == WEEK
    assert ops.week_of(WEEK[0]) == WEEK
    assert ops.week_of(WEEK[1] - timedelta(microseconds=1)) == WEEK
    assert ops.previous_week(IN_NEXT) == WEEK


# --- amounts ------------------------------------------------------------------------------


def test_week_settles_fulfilled_sales_minus_refunds_and_commission(app):
    shop, other = ShopFactory(), ShopFactory()
    # 2 × 19,90 → commission 2,19 HT (rounded per line) + 0,44 VAT.
    a = paid_sub(shop, [(1990, 2)])
    # 6,50 + a 4,00 delivery fee (outside the commission base) → 0,36 + 0,07.
    b = paid_sub(shop, [(650, 1)], delivery_fee=400)
    later = paid_sub(shop, [(1000, 1)])  # collected next week
    unfulfilled = paid_sub(shop, [(2500, 1)])  # paid, never collected
    o = paid_sub(other, [(1234, 3)])
    collect(a, IN_WEEK)
    collect(b, WEEK[1] - timedelta(seconds=1))
    collect(later, WEEK[1])  # the first instant of the next week
    collect(o, IN_WEEK)
    refund(a, 500, IN_WEEK + timedelta(hours=1))  # before the end: this week
    db.session.commit()
    assert (a.commission_ht_cents, a.commission_vat_cents) == (219, 44)
    assert (b.commission_ht_cents, b.commission_vat_cents) == (36, 7)
    r = db.session.scalars(select(Refund).where(Refund.sub_order_id == a.id)).one()

    found = settle_week(WEEK)
    s = found[shop.id]
    assert s.status is S.PAID and s.payout_method is PayoutMethod.SEPA
    assert (s.sales_cents, s.sales_count) == (3980 + 1050, 2)
    assert (s.refunds_cents, s.refunds_count) == (500, 1)
    assert s.commission_ht_cents == 219 + 36 - r.commission_ht_cents
    assert s.commission_vat_cents == 44 + 7 - r.commission_vat_cents
    refund_net = 500 - r.commission_ht_cents - r.commission_vat_cents
    assert s.payout_cents == net(a) + net(b) - refund_net
    assert s.payout_cents == (
        s.sales_cents - s.refunds_cents - s.commission_ht_cents - s.commission_vat_cents
    )
    # The shop is still owed the sub-orders not fulfilled by the end of the week.
    assert payable(shop) == -(net(later) + net(unfulfilled))
    assert ledger.balance(ops.SEPA_PENDING[0]) == -(s.payout_cents + found[other.id].payout_cents)
    assert found[other.id].payout_cents == net(o)
    assert entries_sum() == 0
    # The next week picks up the sub-order collected at its first instant.
    nxt = settle_week(NEXT)[shop.id]
    assert (nxt.sales_count, nxt.payout_cents) == (1, net(later))
    assert unfulfilled.id not in set(db.session.scalars(select(SettlementItem.sub_order_id)))


def test_refund_after_settlement_is_carried_into_the_next_and_debits_carry_forward(app):
    shop = ShopFactory()
    a = paid_sub(shop, [(5000, 1)])
    collect(a, IN_WEEK)
    db.session.commit()
    first = settle_week(WEEK)[shop.id]
    assert first.payout_cents == net(a)
    assert payable(shop) == 0

    # Refunded in full the next week, with nothing else sold: a debit carried.
    r = refund(a, 5000, IN_NEXT)
    db.session.commit()
    second = settle_week(NEXT)[shop.id]
    debit = 5000 - r.commission_ht_cents - r.commission_vat_cents
    assert (second.refunds_cents, second.payout_cents) == (5000, 0)
    assert second.carry_out_cents == -debit
    assert second.payout_method is PayoutMethod.NONE and second.status is S.PAID
    assert payable(shop) == debit  # the shop owes it: the ledger says so too

    # The week after: a new sale pays the debit back first.
    third_week = ops.week_of(NEXT[1] + timedelta(days=1))
    b = paid_sub(shop, [(8000, 1)])
    collect(b, third_week[0] + timedelta(days=1))
    db.session.commit()
    third = settle_week(third_week)[shop.id]
    assert third.carried_from_id == second.id and third.carry_in_cents == -debit
    assert third.payout_cents == net(b) - debit
    assert payable(shop) == 0
    assert entries_sum() == 0


@pytest.mark.parametrize(
    ("method", "shop_fee"),
    [(FulfilmentMethod.EXPRESS, 0), (FulfilmentMethod.STANDARD, 0), ("merchant_delivery", 400)],
)
def test_a_delivered_sale_pays_the_shop_its_own_delivery_fee_only(app, method, shop_fee):
    """A courier's or carrier's fee went to platform:delivery at payment: the shop is
    paid the items (and the fee of a delivery it made itself), and a refund after
    settlement takes back only what the shop had received."""
    method = FulfilmentMethod(method)
    shop = ShopFactory()
    sub = paid_sub(shop, [(650, 1)], delivery_fee=400, method=method)
    collect(sub, IN_WEEK, to=SubOrderStatus.DELIVERED)
    db.session.commit()
    delivery_before = ledger.balance(refund_ops.PLATFORM_DELIVERY[0])
    first = settle_week(WEEK)[shop.id]
    assert (first.sales_cents, first.sales_count) == (650 + shop_fee, 1)
    assert first.payout_cents == net(sub) - (400 - shop_fee)
    assert payable(shop) == 0  # paid exactly what the ledger owed it
    assert ledger.balance(refund_ops.PLATFORM_DELIVERY[0]) == delivery_before

    r = refund(sub, 1050, IN_NEXT)  # everything, the delivery fee included
    db.session.commit()
    second = settle_week(NEXT)[shop.id]
    assert second.refunds_cents == 650 + shop_fee
    assert second.carry_out_cents == -(
        650 + shop_fee - r.commission_ht_cents - r.commission_vat_cents
    )
    assert payable(shop) == -second.carry_out_cents
    assert entries_sum() == 0


def test_a_sale_paid_with_wallet_credit_pays_the_shop_as_a_card_one(app):
    """The platform funds the credit: the shop gets the same payout, to the cent."""
    by_card, by_wallet, by_both = ShopFactory(), ShopFactory(), ShopFactory()
    lines = [(2590, 2), (1099, 1)]
    card = paid_sub(by_card, lines)
    wallet_all = paid_sub(by_wallet, lines, wallet_cents=10_000)
    both = paid_sub(by_both, lines, wallet_cents=1_234)
    assert (card.order.wallet_cents, wallet_all.order.wallet_cents) == (0, 6279)
    assert (both.order.wallet_cents, both.order.card_cents) == (1234, 5045)
    for sub in (card, wallet_all, both):
        collect(sub, IN_WEEK)
    db.session.commit()
    settled = settle_week(WEEK)
    payouts = {settled[s.id].payout_cents for s in (by_card, by_wallet, by_both)}
    assert payouts == {net(card)}
    assert {settled[s.id].sales_cents for s in (by_card, by_wallet, by_both)} == {6279}
    # A refund of the wallet-paid sale: the card first (5 045), then the wallet.
    r = refund(both, 6000, IN_NEXT)
    assert (r.card_cents, r.wallet_cents) == (5045, 955)
    db.session.commit()
    after = settle_week(NEXT)[by_both.id]
    assert after.refunds_cents == 6000
    assert ledger.balance(ledger.WALLET_HELD[0]) == 0
    assert ledger.wallet_credit(both.order.user_id) == 955
    assert payable(by_both) == 6000 - r.commission_ht_cents - r.commission_vat_cents
    assert entries_sum() == 0


def test_refund_before_collection_counts_with_the_sale(app):
    shop = ShopFactory()
    a = paid_sub(shop, [(3000, 1), (1000, 2)])
    r = refund(a, 1000, WEEK[0] - timedelta(days=3))  # refunded, then collected
    collect(a, IN_WEEK)
    db.session.commit()
    # The week before: nothing fulfilled, so the refund waits for its sale.
    before = ops.week_of(WEEK[0] - timedelta(days=1))
    empty = settle_week(before)[shop.id]
    assert (empty.sales_count, empty.refunds_count, empty.payout_cents) == (0, 0, 0)
    assert empty.payout_method is PayoutMethod.NONE
    s = settle_week(WEEK)[shop.id]
    assert (s.sales_cents, s.refunds_cents) == (5000, 1000)
    assert s.payout_cents == net(a) - (1000 - r.commission_ht_cents - r.commission_vat_cents)
    assert payable(shop) == 0 and entries_sum() == 0


# --- exactly once -------------------------------------------------------------------------


def test_runs_and_tasks_repeated_pay_once(app):
    shop = ShopFactory()
    collect(paid_sub(shop, [(1500, 1)]), IN_WEEK)
    db.session.commit()
    ids = ops.start_run(*WEEK)
    assert ops.start_run(*WEEK) == ids  # one settlement per shop and week
    db.session.commit()
    for _ in range(3):
        tasks.settle.delay(ids[0])
        tasks.run_settlements.delay(WEEK[0].isoformat())
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 1
    payouts = db.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.kind == "payout")
    ).all()
    assert [t.reference for t in payouts] == [f"payout:settlement:{ids[0]}"]
    assert payable(shop) == 0 and entries_sum() == 0
    assert ops.start_run(*WEEK) == []  # nothing left to pay


@pytest.fixture
def follow_retries():
    """Eager tasks follow their retries as a worker would (errors kept in results)."""
    from marketplace.extensions import celery_app

    saved = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def recorder(app, tmp_path: Path, follow_retries):
    fake = RecordingPayouts(tmp_path / "transfers.jsonl", fail_first=2)
    app.extensions["settlement_payouts"] = fake
    yield fake
    app.extensions.pop("settlement_payouts", None)


def test_connected_shop_is_paid_by_one_transfer_after_failures(app, recorder):
    shop = ShopFactory()
    db.session.add(
        PayoutAccount(shop_id=shop.id, stripe_account_id="acct_1TestShop", payouts_enabled=True)
    )
    sub = paid_sub(shop, [(4200, 1)])
    collect(sub, IN_WEEK)
    db.session.commit()
    [sid] = ops.start_run(*WEEK)
    db.session.commit()
    # The fake refuses the first two attempts; the task retries (eagerly, at once:
    # apply() without propagation follows the retries as a worker would).
    assert tasks.settle.delay(sid).get() == "paid"
    db.session.expire_all()
    s = db.session.get(Settlement, sid)
    assert s is not None and s.status is S.PAID and s.attempts == 3
    rows = recorder._lines()
    assert [r["ok"] for r in rows] == [False, False, True]
    assert len({r["key"] for r in rows}) == 3  # a new key per failed attempt
    assert rows[-1]["group"] == f"settlement-{sid}" and rows[-1]["amount"] == net(sub)
    assert s.transfer_id == rows[-1]["id"] and s.destination == "acct_1TestShop"
    assert ledger.balance("stripe:clearing") == sub.total_cents - net(sub)
    assert payable(shop) == 0 and entries_sum() == 0


def test_account_disabled_after_compute_is_paid_by_sepa_instead(app, recorder):
    """Stripe restricts the shop's account between compute and pay: no transfer is
    tried, the payout is owed by SEPA transfer, once."""
    shop = ShopFactory()
    account = PayoutAccount(shop_id=shop.id, stripe_account_id="acct_1Gone", payouts_enabled=True)
    db.session.add(account)
    sub = paid_sub(shop, [(4200, 1)])
    collect(sub, IN_WEEK)
    db.session.commit()
    [sid] = ops.start_run(*WEEK)
    db.session.commit()
    computed = ops.compute(sid)
    assert computed is not None and computed.payout_method is PayoutMethod.STRIPE
    account.payouts_enabled = False
    db.session.commit()
    paid = ops.pay(sid)
    assert paid is not None and paid.status is S.PAID
    assert (paid.payout_method, paid.destination, paid.transfer_id) == (
        PayoutMethod.SEPA,
        None,
        None,
    )
    assert recorder._lines() == []  # no transfer tried
    assert ledger.balance(ops.SEPA_PENDING[0]) == -net(sub)
    assert ops.pay(sid).status is S.PAID and ledger.balance(ops.SEPA_PENDING[0]) == -net(sub)
    assert payable(shop) == 0 and entries_sum() == 0


def test_crash_after_the_transfer_adopts_it_instead_of_paying_again(app, tmp_path):
    shop = ShopFactory()
    db.session.add(
        PayoutAccount(shop_id=shop.id, stripe_account_id="acct_1Crash", payouts_enabled=True)
    )
    collect(paid_sub(shop, [(999, 1)]), IN_WEEK)
    db.session.commit()
    [sid] = ops.start_run(*WEEK)
    db.session.commit()
    ops.compute(sid)
    s = db.session.get(Settlement, sid)
    assert s is not None
    # The worker died after Stripe made the transfer but before the commit.
    s.status, s.attempts = S.PAYING, 1
    db.session.commit()
    fake = RecordingPayouts(tmp_path / "t.jsonl")
    fake.transfer(s.payout_cents, "acct_1Crash", s.transfer_group, s.idempotency_key, {})
    app.extensions["settlement_payouts"] = fake
    try:
        ops.settle(sid)
    finally:
        app.extensions.pop("settlement_payouts")
    assert len(fake._lines()) == 1
    db.session.expire_all()
    assert db.session.get(Settlement, sid).status is S.PAID  # type: ignore[union-attr]
    assert payable(shop) == 0 and entries_sum() == 0


# --- resuming lost tasks -------------------------------------------------------------


@pytest.fixture
def transfers(app, tmp_path: Path):
    fake = RecordingPayouts(tmp_path / "transfers.jsonl")
    app.extensions["settlement_payouts"] = fake
    yield fake
    app.extensions.pop("settlement_payouts", None)


def paying_since(minutes: int) -> tuple[int, Any]:
    """A settlement of a run made two hours ago whose payout attempt began `minutes`
    ago, its transfer not made yet."""
    shop = ShopFactory()
    db.session.add(
        PayoutAccount(shop_id=shop.id, stripe_account_id="acct_1Slow", payouts_enabled=True)
    )
    collect(paid_sub(shop, [(2500, 1)]), IN_WEEK)
    db.session.commit()
    [sid] = ops.start_run(*WEEK)
    db.session.commit()
    s = ops.compute(sid)
    assert s is not None
    now = datetime.now(UTC)
    s.status, s.attempts = S.PAYING, 1
    s.created_at, s.updated_at = now - timedelta(hours=2), now - timedelta(minutes=minutes)
    db.session.commit()
    return sid, shop


def status_of(settlement_id: int) -> SettlementStatus:
    db.session.expire_all()
    settlement = db.session.get(Settlement, settlement_id)
    assert settlement is not None
    return settlement.status


def test_a_settlement_a_worker_is_still_paying_is_not_sent_again(app, transfers):
    sid, _shop = paying_since(minutes=1)
    assert tasks.resume_settlements.delay().get() == 0
    assert status_of(sid) is S.PAYING and transfers._lines() == []


def test_a_settlement_unchanged_for_long_is_resumed_and_paid_once(app, transfers):
    sid, shop = paying_since(minutes=45)
    assert tasks.resume_settlements.delay().get() == 1
    assert status_of(sid) is S.PAID
    assert tasks.resume_settlements.delay().get() == 0
    assert [r["group"] for r in transfers._lines()] == [f"settlement-{sid}"]
    assert payable(shop) == 0 and entries_sum() == 0


def test_how_long_a_settlement_may_stay_unchanged_is_configured(app, transfers, monkeypatch):
    sid, _shop = paying_since(minutes=10)
    assert tasks.resume_settlements.delay().get() == 0  # 30 minutes by default
    monkeypatch.setitem(app.config, "SETTLEMENT_RESUME_MINUTES", 5)
    assert tasks.resume_settlements.delay().get() == 1
    assert status_of(sid) is S.PAID and len(transfers._lines()) == 1


def test_each_step_counts_as_progress(app):
    shop = ShopFactory()
    collect(paid_sub(shop, [(1200, 1)]), IN_WEEK)
    db.session.commit()
    [sid] = ops.start_run(*WEEK)
    s = db.session.get(Settlement, sid)
    assert s is not None
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    s.updated_at = long_ago
    db.session.commit()
    computed = ops.compute(sid)
    assert computed is not None and computed.updated_at > long_ago + timedelta(hours=2)
    assert ops.unfinished(datetime.now(UTC) - timedelta(minutes=30)) == []


def test_payout_error_leaves_a_failed_settlement_that_staff_can_retry(
    app, client, tmp_path, follow_retries
):
    shop = ShopFactory(name="Librairie du Marché")
    db.session.add(
        PayoutAccount(shop_id=shop.id, stripe_account_id="acct_1Fail", payouts_enabled=True)
    )
    collect(paid_sub(shop, [(2000, 1)]), IN_WEEK)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    app.extensions["settlement_payouts"] = RecordingPayouts(tmp_path / "t.jsonl", 99)
    tasks.run_settlements.delay(WEEK[0].isoformat())
    s = db.session.scalars(select(Settlement)).one()
    db.session.refresh(s)
    assert s.status is S.FAILED and s.last_error and s.attempts == tasks.SETTLE_MAX_RETRIES + 1
    assert payable(shop) < 0  # still owed

    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/reversements")
    assert page.status_code == 200 and "2026-10-19" in page.text
    run = client.get("/collectivite/reversements/2026-10-19")
    assert "Librairie du Marché" in run.text and "Relancer" in run.text
    app.extensions["settlement_payouts"] = RecordingPayouts(tmp_path / "ok.jsonl")
    try:
        response = client.post(
            f"/collectivite/reversements/reglement/{s.id}/relancer",
            data={"csrf_token": csrf_token(client, "/collectivite/reversements/2026-10-19")},
        )
    finally:
        app.extensions.pop("settlement_payouts")
    assert response.status_code == 302
    db.session.refresh(s)
    assert s.status is S.PAID and payable(shop) == 0 and entries_sum() == 0
    page = client.get("/collectivite/reversements").text
    assert "2026-10" in page  # the commission by month


def test_settlement_pages_are_for_staff_only(app, client):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get("/collectivite/reversements").status_code == 403


def test_staff_starts_a_run_for_a_finished_week_only(app, client):
    shop = ShopFactory()
    collect(paid_sub(shop, [(1200, 1)]), IN_WEEK)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/collectivite/reversements")
    this_week = ops.week_of(datetime.now(UTC))[0].astimezone(ops.PARIS).date().isoformat()
    client.post("/collectivite/reversements/lancer", data={"week": this_week, "csrf_token": token})
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 0
    response = client.post(
        "/collectivite/reversements/lancer", data={"week": "2026-10-21", "csrf_token": token}
    )
    assert response.status_code == 302
    s = db.session.scalars(select(Settlement)).one()
    assert s.period_start == WEEK[0] and s.status is S.PAID
    assert isinstance(Transfer("x", 1, "y"), Transfer)


# --- end to end: a real checkout paid through localstripe ---------------------------------


# The shop tests' fixtures: a checkout through localstripe, paid by its webhook.
paid = test_orders.paid
two_shops = test_orders.two_shops


def test_real_checkout_collected_and_refunded_is_settled_to_the_cent(app, paid):
    from shop.operations.orders import transition

    sub_a, sub_b = paid["sub_a"], paid["sub_b"]
    for status in (
        SubOrderStatus.ACCEPTED,
        SubOrderStatus.READY,
        SubOrderStatus.COLLECTED,
    ):
        transition(sub_a, status, None, "system")
    db.session.commit()
    week = ops.week_of(datetime.now(UTC))
    found = settle_week(week)
    # Shop a: 2 × 19,90 − (2,19 + 0,44) commission; shop b's cheese is not collected.
    assert found[paid["a"].id].payout_cents == 3980 - 263 == net(sub_a)
    assert found[paid["b"].id].payout_cents == 0
    assert payable(paid["a"]) == 0
    assert payable(paid["b"]) == -(650 - 43) == -net(sub_b)
    # A refund after the settlement: carried as a debit into the next one.
    r = refund_ops.refund(sub_a, None, "system", amount_cents=1990, reason="abîmé")
    db.session.commit()
    nxt = settle_week(ops.week_of(week[1] + timedelta(days=1)))[paid["a"].id]
    assert nxt.refunds_cents == 1990
    assert nxt.carry_out_cents == -(1990 - r.commission_ht_cents - r.commission_vat_cents)
    assert payable(paid["a"]) == -nxt.carry_out_cents
    assert entries_sum() == 0


def two_sales_and_a_refund_settled(shop: Any) -> tuple[Settlement, SubOrder, SubOrder]:
    """The shop's week: 2 × 19,90 € (a) and 6,50 € + 4,00 € of delivery (b) collected,
    7,00 € of a refunded, then settled; committed."""
    a, b = paid_sub(shop, [(1990, 2)]), paid_sub(shop, [(650, 1)], delivery_fee=400)
    collect(a, IN_WEEK)
    collect(b, IN_WEEK + timedelta(hours=3))
    refund(a, 700, IN_WEEK + timedelta(hours=5))
    db.session.commit()
    return settle_week(WEEK)[shop.id], a, b


def test_statement_csv_lists_every_sale_and_refund_and_adds_up(app, client):
    shop = ShopFactory()
    staff = UserFactory(roles=[Role.STAFF])
    s, a, b = two_sales_and_a_refund_settled(shop)
    login(client, staff.email, DEFAULT_PASSWORD)
    assert "Relevé CSV" in client.get("/collectivite/reversements/2026-10-19").text
    response = client.get(f"/collectivite/reversements/reglement/{s.id}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = [line.split(";") for line in response.text.strip().splitlines()]
    assert lines[0][0] == "date"
    body = lines[1:-3]
    assert [(row[1], row[2], int(row[3])) for row in body] == [
        ("sale", a.reference, 3980),
        ("sale", b.reference, 1050),
        ("refund", a.reference, -700),
    ]
    assert body[0][0].startswith("2026-10-21T") and body[0][0].endswith("+02:00")
    assert sum(int(row[6]) for row in body) == s.payout_cents == int(lines[-1][6])
    assert sum(int(row[4]) + int(row[5]) for row in body) == s.commission_ttc_cents


def test_sepa_file_has_one_validated_transfer_per_sepa_settlement(app, client):
    from xml.etree import ElementTree

    app.config.update(
        SEPA_DEBTOR_NAME="Val de Garonne Agglomération",
        SEPA_DEBTOR_IBAN="FR7630001007941234567890185",
        SEPA_DEBTOR_BIC="BDFEFRPPCCT",
    )
    try:
        with_iban = ShopFactory(iban="FR1420041010050500013M02606", iban_holder="Librairie SARL")
        no_iban = ShopFactory(name="Sans IBAN")
        connected = ShopFactory()
        db.session.add(
            PayoutAccount(
                shop_id=connected.id, stripe_account_id="acct_1Sepa", payouts_enabled=True
            )
        )
        subs = [paid_sub(shop, [(2590, 1)]) for shop in (with_iban, no_iban)]
        for sub in subs:
            collect(sub, IN_WEEK)
        staff = UserFactory(roles=[Role.STAFF])
        db.session.commit()
        s = settle_week(WEEK)[with_iban.id]
        login(client, staff.email, DEFAULT_PASSWORD)
        response = client.get("/collectivite/reversements/2026-10-19/virements-sepa.xml")
        assert response.status_code == 200 and response.mimetype == "application/xml"
        doc = ElementTree.fromstring(response.data)  # noqa: S314 - our own output
        namespace = doc.tag[1:].split("}")[0]
        ns = {"p": namespace}
        assert namespace.endswith("pain.001.001.03")
        txs = doc.findall(".//p:CdtTrfTxInf", ns)
        assert len(txs) == 1  # the shop without IBAN is reported, not paid
        assert txs[0].findtext(".//p:EndToEndId", namespaces=ns) == f"settlement-{s.id}"
        assert txs[0].findtext(".//p:InstdAmt", namespaces=ns) == f"{s.payout_cents / 100:.2f}"
        assert txs[0].findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == with_iban.iban
        page = client.get("/collectivite/reversements/2026-10-19").text
        assert "Sans IBAN n&#39;a pas d&#39;IBAN" in page
    finally:
        for key in ("SEPA_DEBTOR_NAME", "SEPA_DEBTOR_IBAN", "SEPA_DEBTOR_BIC"):
            app.config[key] = None
