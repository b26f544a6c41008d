"""Property tests (hypothesis): over random orders, refunds, collection times, holds
after fulfilment and weekly runs (some weeks skipped), every shop's settlements add
up to what was paid, to the cent: Σ payouts + Σ commission TTC + Σ refunds + the
debit still carried == Σ payments (card + wallet credit, orders being paid partly or
wholly with credit); refunds go to the card first; every sale is settled once and only after its
hold (a sale still held at a run waits for a later one, never lost); every refund
once; the ledger balances; invoice numbers follow each other without gaps."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from admin.settlement import operations as ops
from admin.settlement.models import (
    CommissionInvoice,
    InvoiceCounter,
    Settlement,
    SettlementItem,
)
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerAccount, LedgerEntry, LedgerTransaction
from shop.models import Refund
from shop.operations import refunds as refund_ops
from tests.admin.test_settlement import (  # noqa: F401 - the autouse Stripe stub
    WEEK,
    collect,
    entries_sum,
    paid_sub,
    stub_stripe_refunds,
)
from tests.factories import ShopFactory

HOURS = 24 * 7 * 4  # four weeks of activity

line = st.tuples(st.integers(1, 50_000), st.integers(1, 5))  # unit price, quantity
refund_spec = st.tuples(st.floats(0.01, 1.0), st.integers(0, HOURS + 48))
sub_order = st.fixed_dictionaries(
    {
        "shop": st.integers(0, 2),
        "lines": st.lists(line, min_size=1, max_size=4),
        "delivery": st.sampled_from([0, 0, 390, 590]),
        "collected_at": st.integers(0, HOURS - 1),
        "refunds": st.lists(refund_spec, max_size=3),
        # Wallet credit the resident has at checkout (0: card only): it pays what it
        # may, the card the rest.
        "wallet": st.one_of(st.just(0), st.integers(1, 300_000)),
    }
)
scenario = st.fixed_dictionaries(
    {
        "subs": st.lists(sub_order, min_size=1, max_size=12),
        "skipped_weeks": st.sets(st.integers(0, 4), max_size=2),
        "hold_days": st.integers(0, 10),
        # Each run fires this long after its week's end (the beat: Monday 03:00).
        "run_delay_hours": st.integers(1, 60),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario)
def test_payouts_commission_and_refunds_add_up_to_payments(app, data):
    app.config["SETTLEMENT_HOLD_DAYS"] = data["hold_days"]
    try:
        _check_scenario(data)
    finally:
        app.config.pop("SETTLEMENT_HOLD_DAYS", None)


def _check_scenario(data: dict) -> None:
    start = WEEK[0]
    hold = timedelta(days=data["hold_days"])
    shops = [ShopFactory() for _ in range(3)]
    subs = []
    for spec in data["subs"]:
        sub = paid_sub(
            shops[spec["shop"]], spec["lines"], spec["delivery"], wallet_cents=spec["wallet"]
        )
        collect(sub, start + timedelta(hours=spec["collected_at"]))
        for fraction, hour in spec["refunds"]:
            left = refund_ops.refundable_cents(sub)
            if left <= 0:
                break
            row = refund_ops.refund(
                sub, None, "system", amount_cents=max(1, int(left * fraction)), reason="p"
            )
            row.processed_at = start + timedelta(hours=hour)
        subs.append(sub)
    db.session.commit()

    weeks = []
    moment = start
    for _ in range(6):
        weeks.append(ops.week_of(moment))
        moment = weeks[-1][1] + timedelta(hours=1)
    for index, week in enumerate(weeks):
        if index in data["skipped_weeks"] and index < len(weeks) - 1:
            continue  # a missed run: the next one picks its sales up
        run_at = week[1] + timedelta(hours=data["run_delay_hours"])
        for settlement_id in ops.start_run(*week, now=run_at):
            ops.settle(settlement_id)

    shop_ids = [s.id for s in shops]
    refunds = db.session.scalars(
        select(Refund).where(Refund.sub_order_id.in_([s.id for s in subs]))
    ).all()
    for shop in shops:
        mine = [s for s in subs if s.shop_id == shop.id]
        my_refunds = [r for r in refunds if r.sub_order_id in {s.id for s in mine}]
        settlements = db.session.scalars(
            select(Settlement)
            .where(Settlement.shop_id == shop.id)
            .order_by(Settlement.period_start)
            .execution_options(populate_existing=True)
        ).all()
        payments = sum(s.total_cents for s in mine)
        commission = sum(
            (s.commission_ht_cents or 0) + (s.commission_vat_cents or 0) for s in mine
        ) - sum(r.commission_ht_cents + r.commission_vat_cents for r in my_refunds)
        refunded = sum(r.amount_cents for r in my_refunds)
        payouts = sum(s.payout_cents for s in settlements)
        carried = settlements[-1].carry_out_cents if settlements else 0
        assert all(s.payout_cents >= 0 >= s.carry_out_cents for s in settlements)
        assert sum(s.commission_ht_cents + s.commission_vat_cents for s in settlements) == (
            commission
        )
        assert sum(s.refunds_cents for s in settlements) == refunded
        assert payouts + commission + refunded + carried == payments
        # The ledger agrees: the shop is owed nothing, or owes the carried debit.
        assert ledger.balance(ledger.shop_payable(shop.id)[0]) == -carried
    claimed = db.session.execute(
        select(
            SettlementItem.kind,
            func.count(),
            func.count(func.distinct(SettlementItem.sub_order_id)),
        )
        .join(Settlement)
        .where(Settlement.shop_id.in_(shop_ids))
        .group_by(SettlementItem.kind)
    ).all()
    counts = {kind: (n, distinct) for kind, n, distinct in claimed}
    assert counts.get("sale", (0, 0)) == (len(subs), len(subs))  # each sale once
    assert counts.get("refund", (0, 0))[0] == len(refunds)
    assert entries_sum() == 0
    _check_wallet_and_card(subs, refunds, [spec["wallet"] for spec in data["subs"]])
    # No sale was paid before its hold had passed at the run that paid it.
    early = [
        (at, cutoff, run_at)
        for at, cutoff, run_at in db.session.execute(
            select(SettlementItem.occurred_at, Settlement.sales_cutoff, Settlement.created_at)
            .join(Settlement)
            .where(Settlement.shop_id.in_(shop_ids), SettlementItem.kind == "sale")
        )
        if not at < cutoff <= run_at - hold
    ]
    assert early == []
    # One invoice per settlement with commission; per territory and year, the
    # numbers are 1, 2, 3… up to the counter, without a gap.
    invoiced = db.session.scalars(
        select(CommissionInvoice).join(Settlement).where(Settlement.shop_id.in_(shop_ids))
    ).all()
    with_commission = db.session.scalar(
        select(func.count())
        .select_from(Settlement)
        .where(
            Settlement.shop_id.in_(shop_ids),
            (Settlement.commission_ht_cents != 0) | (Settlement.commission_vat_cents != 0),
        )
    )
    assert len(invoiced) == with_commission
    for territory_id, year in {(i.territory_id, i.year) for i in invoiced}:
        numbers = db.session.scalars(
            select(CommissionInvoice.number)
            .where(CommissionInvoice.territory_id == territory_id, CommissionInvoice.year == year)
            .order_by(CommissionInvoice.number)
        ).all()
        counter = db.session.get(InvoiceCounter, (territory_id, year))
        assert counter is not None
        assert list(numbers) == list(range(1, counter.last_number + 1))


def _check_wallet_and_card(subs: list, refunds: list, given: list[int]) -> None:
    """Payments are card + wallet; refunds went to the card first, never more than
    it paid; Stripe's side holds the card money only; every wallet holds what it was
    given less what it spent plus what came back; nothing is left held."""
    card = sum(s.order.card_cents for s in subs)
    spent = sum(s.order.wallet_cents for s in subs)
    assert card + spent == sum(s.total_cents for s in subs)
    for sub in subs:
        mine = [r for r in refunds if r.sub_order_id == sub.id]
        assert sum(r.card_cents for r in mine) <= sub.order.card_cents
        if sum(r.wallet_cents for r in mine):  # the wallet only once the card is back
            assert sum(r.card_cents for r in mine) == sub.order.card_cents
        back = sum(r.wallet_cents for r in mine)
        assert (
            ledger.wallet_credit(sub.order.user_id)
            == given[subs.index(sub)] - (sub.order.wallet_cents) + back
        )
    # Stripe clearing moved by this scenario's payments and refunds: the card's part.
    references = [f"payment:{s.order.payments[0].intent_id}" for s in subs] + [
        f"refund:{r.idempotency_key}" for r in refunds
    ]
    on_clearing = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction)
        .join(LedgerAccount)
        .where(
            LedgerAccount.code == ledger.STRIPE_CLEARING[0],
            LedgerTransaction.reference.in_(references),
        )
    )
    assert on_clearing == card - sum(r.card_cents for r in refunds)
    assert ledger.balance(ledger.WALLET_HELD[0]) == 0
