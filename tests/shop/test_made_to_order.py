"""A variant made to order with nothing ready is offered, not shown sold out: on the
product, shop and search pages, in the anonymous basket and in the API."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from marketplace.extensions import db
from tests.factories import ProductFactory, ShopFactory, VariantFactory
from tests.helpers import csrf_token


def _catalogue() -> dict[str, Any]:
    shop = ShopFactory(name="Atelier Lune")
    made = ProductFactory(shop=shop, name="Bougie parfumée")
    variant = VariantFactory(product=made, stock=0, made_to_order=True, price_cents=1800)
    gone = ProductFactory(shop=shop, name="Bougie épuisée")
    VariantFactory(product=gone, stock=0, made_to_order=False)
    db.session.commit()
    return {
        "shop": shop,
        "variant_id": variant.id,
        "path": f"/boutiques/{shop.slug}/{made.slug}",
        "gone_path": f"/boutiques/{shop.slug}/{gone.slug}",
    }


def test_the_product_page_offers_it_made_to_order(client: FlaskClient) -> None:
    data = _catalogue()
    page = client.get(data["path"]).text
    assert "Sur commande" in page and "Épuisé" not in page.split('id="others"')[0]
    assert "Ajouter au panier" in page
    assert re.search(rf'id="qty-{data["variant_id"]}"[^>]*max="99"', page)
    gone = client.get(data["gone_path"]).text.split('id="others"')[0]
    assert "Épuisé" in gone and "Ajouter au panier" not in gone
    shop_page = client.get(f"/boutiques/{data['shop'].slug}").text
    assert "Sur commande" in shop_page
    english = client.get(data["path"], headers={"Accept-Language": "en"}).text
    assert "Made to order" in english


def test_an_anonymous_resident_orders_more_than_is_ready(client: FlaskClient) -> None:
    data = _catalogue()
    token = csrf_token(client, data["path"])
    form = {"variant_id": data["variant_id"], "mode": "add", "quantity": 3, "next": "/panier"}
    response = client.post("/panier", data={**form, "csrf_token": token})
    assert response.status_code == 302
    basket = client.get("/panier").text
    assert "Bougie parfumée" in basket and "54,00" in basket  # 3 × 18,00 €


def test_search_in_stock_keeps_made_to_order_products(client: FlaskClient) -> None:
    _catalogue()
    page = client.get("/recherche?q=bougie&en_stock=1").text
    assert "Bougie parfumée" in page and "Bougie épuisée" not in page


def test_the_api_tells_it_is_made_to_order(client: FlaskClient) -> None:
    data = _catalogue()
    shop, path = data["shop"], data["path"]
    product_slug = path.rsplit("/", 1)[1]
    body = client.get(f"/api/v1/shops/{shop.slug}/products/{product_slug}").json
    assert body["stock_state"] == "made_to_order"
    assert body["variants"][0]["stock_state"] == "made_to_order"
    assert body["variants"][0]["max_quantity"] == 99
