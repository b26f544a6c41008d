"""The printable packing slip: the shop's staff only, SKU and quantities, the pickup
code and the customer's name but no e-mail or phone, print CSS, linked from the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.extensions import db
from marketplace.models import Role
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import login
from tests.merchants.sales_data import make_sale
from tests.shop import test_orders
from tests.shop.test_orders import QUEUE

two_shops = test_orders.two_shops


@pytest.fixture
def paid(app, two_shops):
    """A paid sub-order of each shop, written straight to the database (no payment
    through localstripe: its event list is bounded over the session)."""
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.flush()
    when = datetime.now(UTC) - timedelta(minutes=5)
    sub_a = make_sale(two_shops["a"], resident, [(two_shops["book"], 2)], when)
    sub_b = make_sale(two_shops["b"], resident, [(two_shops["cheese"], 1)], when)
    db.session.commit()
    return {**two_shops, "resident": resident, "order": sub_a.order, "sub_a": sub_a, "sub_b": sub_b}


def test_slip_for_the_shops_staff(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    queue = client.get(QUEUE).text
    link = f"/boutique/commandes/{sub.id}/bon"
    assert f'href="{link}"' in queue
    page = client.get(link)
    assert page.status_code == 200
    html = page.text
    line = sub.lines[0]
    assert sub.reference in html and sub.pickup_code in html
    assert line.sku in html and "Roman" in html
    assert '<td class="num">2</td>' in html
    assert paid["order"].contact_name in html
    assert paid["order"].contact_email not in html and paid["order"].contact_phone not in html
    assert "@media print" in html
    assert "Tomme" not in html  # the other shop's line of the same order


def test_other_shop_resident_and_anonymous_get_nothing(app, client, paid):
    sub = paid["sub_a"]
    link = f"/boutique/commandes/{sub.id}/bon"
    anonymous = client.get(link)
    assert anonymous.status_code == 302 and "/compte/connexion" in anonymous.location
    login(client, paid["owner_b"].email, DEFAULT_PASSWORD)
    other = client.get(link)
    assert other.status_code == 404 and sub.pickup_code not in other.text
    assert client.get("/boutique/commandes/999999/bon").status_code == 404
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    fresh_client = app.test_client()
    login(fresh_client, resident.email, DEFAULT_PASSWORD)
    answer = fresh_client.get(link)
    assert answer.status_code in (403, 404) and sub.pickup_code not in answer.text
