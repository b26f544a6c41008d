"""Property test (hypothesis) of the Cityzens' rewards: over random lines, reward
rates and refunds before and after the credit, the reward a Cityzen keeps is the
rate on what remains of the line, never more than the commission the platform keeps
on it; the wallet and the platform's rewards expense hold exactly that; the ledger
balances."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ambassadors import operations as cz
from ambassadors.models import AttributionStatus
from marketplace import ledger
from marketplace.models import Role
from marketplace.money import apply_rate
from shop.operations import refunds as refund_ops
from tests.ambassadors.conftest import (
    all_entries_sum,
    attributions,
    click,
    config,
    fulfil,
    later,
    make_cityzen,
    pay,
    place,
    wallet,
)
from tests.factories import ShopFactory, UserFactory, VariantFactory

A = AttributionStatus
refund = st.tuples(st.booleans(), st.floats(0.01, 1.0))  # after the credit?, share of what is left


def _refund(sub, fraction: float) -> None:
    left = refund_ops.refundable_cents(sub)
    if left > 0:
        refund_ops.refund(sub, None, "system", amount_cents=max(1, int(left * fraction)))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    price=st.integers(1, 50_000),
    quantity=st.integers(1, 5),
    rate_bp=st.integers(0, 1_500),
    refunds=st.lists(refund, max_size=3),
)
def test_reward_is_the_rate_on_what_remains_capped_by_the_commission(
    app, fake_provider, price, quantity, rate_bp, refunds
):
    shop = ShopFactory()
    variant = VariantFactory(product__shop=shop, price_cents=price, stock=100)
    cityzen_user, cityzen = make_cityzen("Camille")
    recommendation = cz.recommend(cityzen, variant.product_id, "Très bien.")
    buyer = UserFactory(roles=[Role.RESIDENT])
    visitor = uuid.uuid4().hex
    click(recommendation, visitor=visitor)
    with config(app, CITYZEN_REWARD_RATE_BP=rate_bp):
        order = place(app, buyer, [(variant, quantity)], visitor=visitor)
    pay(order)
    sub = order.sub_orders[0]
    (attribution,) = attributions(order)
    expense_before = ledger.balance(ledger.PLATFORM_REWARDS[0])

    for after_credit, fraction in refunds:
        if not after_credit:
            _refund(sub, fraction)
    if refund_ops.refundable_cents(sub) > 0:
        fulfil(sub)
        cz.credit_due_rewards(later(15))
    for after_credit, fraction in refunds:
        if after_credit:
            _refund(sub, fraction)

    line = price * quantity
    refunded = line - refund_ops.refundable_cents(sub)
    rate = sub.commission_rate_bp
    commission_kept = apply_rate(line, rate) - apply_rate(refunded, rate)
    expected = min(apply_rate(line - refunded, rate_bp), commission_kept)
    assert attribution.reward_cents == expected <= commission_kept
    assert wallet(cityzen_user) == expected
    assert ledger.balance(ledger.PLATFORM_REWARDS[0]) - expense_before == expected
    if expected == 0:
        assert attribution.status in (A.VOID, A.REVERSED, A.PENDING)
    else:
        assert attribution.status is A.CREDITED
    assert all_entries_sum() == 0
