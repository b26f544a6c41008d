"""End to end through the real pages: a visitor follows a Cityzen's link, logs in,
checks out, pays by card (localstripe) confirmed by the signed webhook; the shop
hands the order over; 14 days later the reward is in the Cityzen's wallet."""

from __future__ import annotations

import re

from ambassadors import operations as cz
from ambassadors.models import AttributionStatus
from marketplace import ledger
from marketplace.extensions import db
from shop.models import OrderStatus
from tests.ambassadors.conftest import (
    all_entries_sum,
    attributions,
    fulfil,
    later,
    make_cityzen,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import login
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture
from tests.shop.test_orders import logout, place_paid_order


def test_link_checkout_payment_fulfilment_reward(app, client, two_shops):  # noqa: F811
    book, cheese = two_shops["book"], two_shops["cheese"]
    alice, alice_cz = make_cityzen("Alice")
    rec = cz.recommend(alice_cz, book.product_id, "Mon roman de l'été.")
    buyer = UserFactory()
    db.session.commit()

    assert client.get(f"/r/{rec.code}").status_code == 200  # anonymous visit
    order = place_paid_order(app, client, buyer, [(book, 2), (cheese, 1)])
    assert order.status is OrderStatus.PAID
    (att,) = attributions(order)
    assert att.cityzen_user_id == alice.id and att.order_line.product_name == "Roman"

    sub = next(s for s in order.sub_orders if s.shop_id == two_shops["a"].id)
    fulfil(sub)
    assert cz.credit_due_rewards(later(13)) == 0
    assert cz.credit_due_rewards(later(15)) == 1
    db.session.commit()
    # 2 × 19,90 = 39,80 → 3 % → 1,19; the cheese (no recommendation) earns nothing.
    assert att.status is AttributionStatus.CREDITED and att.reward_cents == 119
    assert ledger.wallet_credit(alice.id) == 119
    assert all_entries_sum() == 0

    logout(client)
    login(client, alice.email, DEFAULT_PASSWORD)
    page = client.get("/cityzens/mon-credit")
    assert re.search(r'data-testid="wallet-credit">1,19', page.text)
