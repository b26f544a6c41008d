"""Territory home (filters, map), shop page and product page."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask

from marketplace.extensions import db
from merchants.models import Closure, ProductStatus, ShopStatus
from tests.factories import (
    CommuneFactory,
    ProductFactory,
    ShopFactory,
    TerritoryFactory,
    TradeFactory,
    VariantFactory,
)
from tests.helpers import main_text


@pytest.fixture
def town(app: Flask) -> dict[str, Any]:
    territory = TerritoryFactory(name="Val de Garonne")
    marmande = CommuneFactory(territory=territory, name="Marmande", slug="marmande")
    tonneins = CommuneFactory(territory=territory, name="Tonneins", slug="tonneins")
    books = TradeFactory(slug="librairie", name_fr="Librairie")
    grocery = TradeFactory(slug="epicerie", name_fr="Épicerie")
    shops = {
        "arcades": ShopFactory(
            commune=marmande,
            trade=books,
            name="Librairie des Arcades",
            slug="arcades",
            latitude=44.5,
            longitude=0.165,
            story="Fondée en 1962 sous les arcades.",
            advice="Laissez-vous guider par nos libraires.",
        ),
        "grain": ShopFactory(commune=tonneins, trade=grocery, name="Au Bon Grain", slug="grain"),
        "marche": ShopFactory(commune=marmande, trade=grocery, name="Le Marché", slug="marche"),
        "pending": ShopFactory(
            commune=marmande, trade=books, status=ShopStatus.PENDING, slug="pending"
        ),
    }
    db.session.flush()
    return {"marmande": marmande, "tonneins": tonneins, **shops}


def cards(html: str) -> int:
    return html.count('class="card"')


# --- Home ------------------------------------------------------------------------------


def test_home_shows_territory_and_all_approved_shops(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/").text
    text = main_text(page)
    assert "Les commerces de Val de Garonne" in text
    assert "Marmande (2)" in text and "Tonneins (1)" in text
    assert cards(page) == 3
    assert "3 commerces" in text
    assert 'role="status"' in page


def test_home_filters_by_commune_and_trade(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/?commune=marmande").text
    assert cards(page) == 2
    assert "Au Bon Grain" not in main_text(page).split("commerces", 2)[-1]
    page = client.get("/?commune=marmande&metier=epicerie").text
    assert cards(page) == 1
    assert "Le Marché" in page
    assert '<option value="marmande" selected>' in page


def test_home_filters_work_as_a_plain_form(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/").text
    form = re.search(r'<form method="get" action="/" class="filters">.*?</form>', page, re.S)
    assert form, "the filter form submits to the home page with GET"
    assert '<label for="filter-commune">' in form.group(0)
    assert '<label for="filter-trade">' in form.group(0)
    assert "<legend>" in form.group(0)


def test_home_unknown_filter_is_ignored_with_a_message(client: Any, town: dict[str, Any]) -> None:
    response = client.get("/?commune=atlantis&metier=%27")
    assert response.status_code == 200
    assert "Commune inconnue : le filtre est ignoré." in response.text
    assert cards(response.text) == 3


def test_home_no_shop_matches(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/?commune=tonneins&metier=librairie").text
    assert cards(page) == 0
    assert "Aucun commerce ne correspond à ces filtres." in page


def test_home_map_is_progressive_enhancement(app: Flask, client: Any, town: dict[str, Any]):
    page = client.get("/").text
    data = re.search(r'<script type="application/json" id="shop-map-data">(.*?)</script>', page)
    assert data
    points = json.loads(data.group(1))
    assert {p["name"] for p in points} == {"Librairie des Arcades", "Au Bon Grain", "Le Marché"}
    arcades = next(p for p in points if p["name"] == "Librairie des Arcades")
    assert (arcades["lat"], arcades["lng"], arcades["url"]) == (44.5, 0.165, "/boutiques/arcades")
    # hidden until the script shows it: without JavaScript nothing is left half-done
    assert re.search(r'<div id="shop-map"[^>]* hidden', page)
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in page
    assert "vendor/leaflet/leaflet.js" in page and "map.js" in page

    app.config["MAP_TILE_URL"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    app.config["MAP_TILE_ATTRIBUTION"] = "Fonds de carte : Exemple"
    try:
        page = client.get("/").text
    finally:
        del app.config["MAP_TILE_URL"], app.config["MAP_TILE_ATTRIBUTION"]
    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in page
    assert 'data-attribution="Fonds de carte : Exemple"' in page


def test_leaflet_is_served_locally(client: Any, town: dict[str, Any]) -> None:
    for name in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "map.js"):
        response = client.get(f"/shop-static/{name}")
        assert response.status_code == 200, name
        response.close()


def _queries(client: Any, count_queries: Any, path: str) -> int:
    client.get(path)
    with count_queries() as counter:
        assert client.get(path).status_code == 200
    return counter.count


def test_filtered_home_queries_do_not_grow(
    app: Flask, client: Any, count_queries: Any, town: dict[str, Any]
) -> None:
    path = "/?commune=marmande&metier=epicerie"
    trade = town["marche"].trade
    few = _queries(client, count_queries, path)
    for i in range(30):
        shop = ShopFactory(commune=town["marmande"], trade=trade)
        if i % 3 == 0:
            shop.closures.append(
                Closure(starts_on=date.today(), ends_on=date.today() + timedelta(days=3))
            )
    db.session.commit()
    many = _queries(client, count_queries, path)
    assert cards(client.get(path).text) == 31
    assert few == many


# --- Shop page -------------------------------------------------------------------------


def test_shop_page(client: Any, town: dict[str, Any]) -> None:
    shop = town["arcades"]
    shop.closures.append(
        Closure(
            starts_on=date.today() + timedelta(days=5),
            ends_on=date.today() + timedelta(days=7),
            reason="Inventaire",
        )
    )
    shop.closures.append(
        Closure(starts_on=date(2020, 1, 1), ends_on=date(2020, 1, 2), reason="Passé")
    )
    pick = ProductFactory(
        shop=shop, name="Le Petit Prince", category="Jeunesse", merchant_pick=True
    )
    VariantFactory(product=pick)
    novel = ProductFactory(shop=shop, name="Germinal", category="Romans")
    VariantFactory(product=novel)
    other = ProductFactory(shop=shop, name="Marque-page", category="")
    VariantFactory(product=other)
    ProductFactory(shop=shop, name="Brouillon", status=ProductStatus.DRAFT)
    db.session.flush()

    page = client.get("/boutiques/arcades").text
    text = main_text(page)
    assert "Fondée en 1962 sous les arcades." in text
    assert "Laissez-vous guider par nos libraires." in text
    assert "Nos coups de cœur" in text and "Le Petit Prince" in text
    assert "Inventaire" in text and "Passé" not in text
    assert "Retrait en boutique : prêt au plus tôt" in text
    # catalogue by category, empty category last, product names linked
    assert text.index("Jeunesse") < text.index("Romans") < text.index("Autres produits")
    assert 'href="/boutiques/arcades/' + novel.slug + '"' in page
    assert "Brouillon" not in text
    assert cards(page) == 3


def test_pending_shop_page_is_not_found(client: Any, town: dict[str, Any]) -> None:
    assert client.get("/boutiques/pending").status_code == 404
    assert client.get("/boutiques/nope").status_code == 404


# --- Product page ----------------------------------------------------------------------


def test_product_page(client: Any, town: dict[str, Any]) -> None:
    shop = town["grain"]
    shop.advice = "Goûtez avant de choisir."
    tea = ProductFactory(
        shop=shop, name="Thé noir", slug="the-noir", vat_rate_bp=550, category="Boissons"
    )
    small = VariantFactory(product=tea, options={"poids": "250 g"}, price_cents=990, stock=3)
    big = VariantFactory(product=tea, options={"poids": "500 g"}, price_cents=1990, stock=0)
    others = [ProductFactory(shop=shop, name=f"Autre {i}") for i in range(6)]
    for item in others:
        VariantFactory(product=item, stock=50)
    db.session.flush()

    response = client.get("/boutiques/grain/the-noir")
    assert response.status_code == 200
    page = response.text
    text = main_text(page)
    assert "Thé noir" in text
    assert "TVA 5,5 %" in text
    assert "à partir de 9,90" in text
    assert "Poids : 250 g" in text and "Poids : 500 g" in text
    assert "Plus que quelques pièces" in text  # 3 left
    assert "Épuisé" in text  # the 500 g
    assert "Goûtez avant de choisir." in text
    assert "Au Bon Grain" in text and "Tonneins" in text  # the shop's card
    # add-to-basket form for the variant in stock, none for the sold-out one
    assert f'name="variant_id" value="{small.id}"' in page
    assert 'action="/panier"' in page and 'name="mode" value="add"' in page
    assert 'name="next" value="/boutiques/grain/the-noir"' in page
    assert 'name="csrf_token"' in page
    assert f'id="qty-{big.id}"' not in page
    # a few other products of the same shop
    assert sum(f"Autre {i}" in text for i in range(6)) == 4


def test_product_page_adds_to_basket(client: Any, town: dict[str, Any]) -> None:
    tea = ProductFactory(shop=town["grain"], slug="the-vert")
    variant = VariantFactory(product=tea, stock=5)
    db.session.commit()
    page = client.get("/boutiques/grain/the-vert").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/panier",
        data={
            "csrf_token": token,
            "variant_id": variant.id,
            "quantity": 2,
            "mode": "add",
            "next": "/boutiques/grain/the-vert",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/boutiques/grain/the-vert")
    assert variant.product.name in client.get("/panier").text


def test_product_page_not_found(client: Any, town: dict[str, Any]) -> None:
    draft = ProductFactory(shop=town["grain"], slug="brouillon", status=ProductStatus.DRAFT)
    hidden = ProductFactory(shop=town["pending"], slug="cache")
    elsewhere = ProductFactory(shop=town["marche"], slug="ailleurs")
    db.session.flush()
    assert client.get(f"/boutiques/grain/{draft.slug}").status_code == 404
    assert client.get(f"/boutiques/pending/{hidden.slug}").status_code == 404
    assert client.get(f"/boutiques/grain/{elsewhere.slug}").status_code == 404  # wrong shop
    assert client.get("/boutiques/grain/nope").status_code == 404


def test_product_page_queries_do_not_grow(
    app: Flask, client: Any, count_queries: Any, town: dict[str, Any]
) -> None:
    tea = ProductFactory(shop=town["grain"], slug="the-rouge")
    VariantFactory(product=tea)
    VariantFactory(product=ProductFactory(shop=town["grain"]))  # one "other product"
    db.session.commit()
    few = _queries(client, count_queries, "/boutiques/grain/the-rouge")
    for _ in range(10):
        VariantFactory(product=tea)
        VariantFactory(product=ProductFactory(shop=town["grain"]))
    db.session.commit()
    assert _queries(client, count_queries, "/boutiques/grain/the-rouge") == few


def test_the_basket_badge_says_how_many_articles_in_words(client: Any) -> None:
    """Screen readers read the badge's label: singular for one article."""
    from tests.helpers import csrf_token

    shop = ShopFactory()
    product = ProductFactory(shop=shop)
    variant = VariantFactory(product=product, stock=5)
    db.session.commit()
    path = f"/boutiques/{shop.slug}/{product.slug}"
    for quantity, label in ((1, "1 article"), (1, "2 articles")):
        form = {"variant_id": variant.id, "mode": "add", "quantity": quantity, "next": path}
        client.post("/panier", data={**form, "csrf_token": csrf_token(client, path)})
        assert f'aria-label="{label}"' in client.get(path).text
    english = client.get(path, headers={"Accept-Language": "en"}).text
    assert 'aria-label="2 items"' in english
