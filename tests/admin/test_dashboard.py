"""The collectivité's dashboard: shops by status, paid orders and their sales."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import ShopStatus
from shop.models import OrderStatus
from tests.admin.test_settlement import IN_WEEK, WEEK, collect, paid_sub, settle_week
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


def test_settlement_page_shows_commission_and_rewards_by_month(client):
    shop = ShopFactory()
    collect(paid_sub(shop, [(10_000, 1)]), IN_WEEK)  # commission 5,50 € HT, 1,10 € VAT
    db.session.commit()
    settle_week(WEEK)  # the week of 21 October 2026
    reward = ledger.post(
        "reward",
        "reward:month-test",
        "Récompense",
        [(ledger.PLATFORM_REWARDS, 130), (ledger.wallet(UserFactory().id), -130)],
    )
    reward.occurred_at = datetime(2026, 10, 22, 10, tzinfo=UTC)
    agent = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, agent.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/reversements")
    assert page.status_code == 200
    row = re.search(r"<tr><td>2026-10</td>(.*?)</tr>", page.text).group(1)
    amounts = [" ".join(c.split()) for c in re.findall(r'<td class="num">([^<]+)</td>', row)]
    # Commission HT, VAT, TTC, the rewards the platform funded, HT left after them.
    assert amounts == ["5,50 €", "1,10 €", "6,60 €", "1,30 €", "4,20 €"]
