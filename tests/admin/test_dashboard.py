"""The collectivité's dashboard: shops by status, paid orders and their sales."""

from __future__ import annotations

import re

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import ShopStatus
from shop.models import OrderStatus
from tests.admin.test_settlement import paid_sub
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory
from tests.helpers import login, main_text


def test_dashboard_counts_shops_and_paid_orders(client):
    open_shop = ShopFactory()
    ShopFactory()
    ShopFactory(status=ShopStatus.PENDING, approved_at=None)
    paid_sub(open_shop, [(1250, 2)])
    unpaid = paid_sub(open_shop, [(999, 1)])
    unpaid.order.status = OrderStatus.CANCELLED
    agent = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, agent.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/")
    assert page.status_code == 200
    assert "1 commande payée, 25,00 € de ventes." in main_text(page.text)
    rows = dict(re.findall(r'<tr><td>([^<]+)</td><td class="num">(\d+)</td></tr>', page.text))
    assert rows == {"Validée": "2", "En attente de validation": "1"}
