"""No N+1 on the storefront: the home page and a shop page cost the same number of
SQL statements whatever the number of shops or products."""

from __future__ import annotations

from datetime import date, timedelta

from marketplace.extensions import db
from merchants.models import Closure
from tests.factories import (
    CommuneFactory,
    ProductFactory,
    ShopFactory,
    TerritoryFactory,
    VariantFactory,
)


def _queries(client, count_queries, path: str) -> list[str]:
    client.get(path)  # warm-up: first-request work is not the page's cost
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return counter.statements


def _add_shops(communes, n: int) -> None:
    for i in range(n):
        shop = ShopFactory(commune=communes[i % len(communes)])  # hours Mon-Sat by default
        if i % 3 == 0:
            today = date.today()
            shop.closures.append(
                Closure(
                    starts_on=today + timedelta(days=10),
                    ends_on=today + timedelta(days=12),
                    reason="Inventaire",
                )
            )
    db.session.commit()


def test_home_queries_do_not_grow_with_shops(app, client, count_queries):
    territory = TerritoryFactory()
    communes = [CommuneFactory(territory=territory) for _ in range(3)]
    _add_shops(communes, 5)
    few = _queries(client, count_queries, "/")

    _add_shops(communes, 35)
    many = _queries(client, count_queries, "/")

    page = client.get("/").text
    assert page.count('class="card"') == 40
    assert len(few) == len(many), "\n".join(many)


def test_shop_page_queries_do_not_grow_with_products(app, client, count_queries):
    shop = ShopFactory()
    path = f"/boutiques/{shop.slug}"

    def add_products(n: int) -> None:
        for i in range(n):
            product = ProductFactory(shop=shop, category=f"Rayon {i % 4}")
            VariantFactory(product=product, options={"format": "Poche"})
            VariantFactory(product=product, options={"format": "Relié"}, stock=0)
        db.session.commit()

    add_products(3)
    few = _queries(client, count_queries, path)

    add_products(27)
    many = _queries(client, count_queries, path)

    assert client.get(path).text.count('class="card"') == 30
    assert len(few) == len(many), "\n".join(many)
