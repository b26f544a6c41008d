"""Search across products and shops: French stemming, accents, typos, filters,
sorting, pagination, the no-result page, bad input, constant queries; the same
search on SQLite (FTS5) in the embedded mode."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod
from merchants.models import Closure, ProductStatus, ShopStatus
from shop.operations import search as ops
from tests.factories import (
    CommuneFactory,
    ProductFactory,
    ShopFactory,
    TerritoryFactory,
    TradeFactory,
    VariantFactory,
)
from tests.helpers import embedded_app, main_text

# Monday 10:00 in Paris (winter time): the factories' shops are open (Mon-Sat 9-19).
MONDAY_10H = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SUNDAY_10H = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def product(shop: Any, name: str, price: int = 1250, stock: int = 10, **kw: Any) -> Any:
    item = ProductFactory(shop=shop, name=name, **kw)
    VariantFactory(product=item, price_cents=price, stock=stock)
    return item


@pytest.fixture
def town(app: Flask) -> dict[str, Any]:
    territory = TerritoryFactory(name="Val de Garonne")
    marmande = CommuneFactory(territory=territory, name="Marmande", slug="marmande")
    tonneins = CommuneFactory(territory=territory, name="Tonneins", slug="tonneins")
    shoes = TradeFactory(slug="chaussures", name_fr="Chaussures")
    grocery = TradeFactory(slug="epicerie", name_fr="Épicerie")
    pas = ShopFactory(commune=marmande, trade=shoes, name="Pas à Pas", slug="pas-a-pas")
    grain = ShopFactory(
        commune=tonneins,
        trade=grocery,
        name="Au Bon Grain",
        slug="au-bon-grain",
        fulfilment_methods=[
            FulfilmentMethod.CLICK_AND_COLLECT.value,
            FulfilmentMethod.MERCHANT_DELIVERY.value,
        ],
    )
    pending = ShopFactory(
        commune=marmande, trade=grocery, status=ShopStatus.PENDING, name="Café en attente"
    )
    walk = product(pas, "Chaussure de marche", price=8990, stock=3, category="Randonnée")
    coffee = product(grain, "Café moulu pur arabica", price=650, stock=20, category="Boissons")
    chocolate = product(grain, "Tablette de chocolat noir", price=390, stock=0)
    product(grain, "Café secret", status=ProductStatus.DRAFT)
    product(pending, "Café du pending")
    db.session.flush()
    return {
        "marmande": marmande,
        "tonneins": tonneins,
        "pas": pas,
        "grain": grain,
        "walk": walk,
        "coffee": coffee,
        "chocolate": chocolate,
    }


def found(q: str = "", now: datetime = MONDAY_10H, **kw: Any) -> list[str]:
    result = ops.search(ops.SearchParams(q=q, **kw), now)
    return [hit.product.name for hit in result.products]


def test_stemming_finds_the_singular_from_the_plural(town: dict[str, Any]) -> None:
    assert found("chaussures") == ["Chaussure de marche"]
    assert found("marcher") == ["Chaussure de marche"]


def test_accents_and_case_are_ignored(town: dict[str, Any]) -> None:
    assert found("cafe") == ["Café moulu pur arabica"]
    assert found("CAFÉ MOULU") == ["Café moulu pur arabica"]


def test_a_typo_still_finds_the_product(town: dict[str, Any]) -> None:
    assert found("chocolt") == ["Tablette de chocolat noir"]
    assert found("chocolat") == ["Tablette de chocolat noir"]


def test_only_published_products_of_approved_shops(town: dict[str, Any]) -> None:
    names = found("café")
    assert "Café secret" not in names
    assert "Café du pending" not in names
    result = ops.search(ops.SearchParams(q="café en attente"), MONDAY_10H)
    assert result.shops == []


def test_shops_are_found_by_name(town: dict[str, Any], client: Any) -> None:
    result = ops.search(ops.SearchParams(q="bon grain"), MONDAY_10H)
    assert [s.name for s in result.shops] == ["Au Bon Grain"]
    page = client.get("/recherche?q=bon+grain").text
    assert 'href="/boutiques/au-bon-grain"' in page


def test_filters(town: dict[str, Any]) -> None:
    assert found(commune=town["marmande"]) == ["Chaussure de marche"]
    assert found(trade=town["grain"].trade) == [
        "Café moulu pur arabica",
        "Tablette de chocolat noir",
    ]
    assert found(price_min_cents=500, price_max_cents=1000) == ["Café moulu pur arabica"]
    assert found(price_min_cents=5000) == ["Chaussure de marche"]
    assert found(method=FulfilmentMethod.MERCHANT_DELIVERY) == [
        "Café moulu pur arabica",
        "Tablette de chocolat noir",
    ]
    assert "Tablette de chocolat noir" not in found(in_stock=True)
    assert len(found(open_now=True, now=MONDAY_10H)) == 3
    assert found(open_now=True, now=SUNDAY_10H) == []


def test_open_now_respects_exceptional_closures(town: dict[str, Any]) -> None:
    town["pas"].closures.append(
        Closure(starts_on=date(2026, 11, 20), ends_on=date(2026, 11, 24), reason="Inventaire")
    )
    db.session.flush()
    assert "Chaussure de marche" not in found(open_now=True, now=MONDAY_10H)


def test_sorting(town: dict[str, Any]) -> None:
    assert found(sort=ops.Sort.PRICE_ASC) == [
        "Tablette de chocolat noir",
        "Café moulu pur arabica",
        "Chaussure de marche",
    ]
    assert found(sort=ops.Sort.PRICE_DESC)[0] == "Chaussure de marche"
    assert found(sort=ops.Sort.NAME) == sorted(found(sort=ops.Sort.NAME))


def test_an_edited_product_is_found_by_its_new_words(town: dict[str, Any]) -> None:
    """The stored document follows every change of name, category or description."""
    town["coffee"].description = "Torréfié à Tonneins"
    db.session.flush()
    assert found("torréfié") == ["Café moulu pur arabica"]
    town["coffee"].description = "Origine Éthiopie"
    town["walk"].category = "Montagne"
    db.session.flush()
    assert found("torréfié") == []
    assert found("ethiopie") == ["Café moulu pur arabica"]
    assert found("montagne") == ["Chaussure de marche"]


def test_relevance_puts_the_name_first(town: dict[str, Any]) -> None:
    product(town["grain"], "Tasse", description="Pour le café du matin")
    assert found("café")[0] == "Café moulu pur arabica"


def test_pagination(app: Flask, client: Any, town: dict[str, Any]) -> None:
    for i in range(30):
        product(town["pas"], f"Lacet rouge {i:02d}")
    db.session.commit()
    first = client.get("/recherche?q=lacet&tri=nom")
    assert first.status_code == 200
    assert first.text.count('class="card product-card"') == ops.PAGE_SIZE
    assert "page 1 sur 2" in first.text
    assert 'href="/recherche?q=lacet&amp;tri=nom&amp;page=2"' in first.text
    second = client.get("/recherche?q=lacet&tri=nom&page=2")
    assert second.text.count('class="card product-card"') == 6
    assert "Lacet rouge 29" in second.text
    beyond = client.get("/recherche?q=lacet&page=99")
    assert beyond.status_code == 200
    assert "page 2 sur 2" in beyond.text


def test_no_result_page_suggests_close_names(client: Any, town: dict[str, Any]) -> None:
    response = client.get("/recherche?q=tablete+chocolt+noire")
    assert response.status_code == 200
    text = main_text(response.text)
    assert "Aucun résultat pour « tablete chocolt noire »" in text
    assert "Vouliez-vous dire" in text
    assert "Tablette de chocolat noir" in text
    # and the way back to the territory's shops
    assert 'href="/?commune=marmande"' in response.text
    assert 'href="/"' in response.text


def test_no_result_with_filters_offers_to_drop_them(client: Any, town: dict[str, Any]) -> None:
    response = client.get("/recherche?q=chaussure&commune=tonneins")
    assert "Relancer la recherche sans les filtres" in response.text
    assert 'role="status"' in response.text


@pytest.mark.parametrize(
    "query",
    [
        "page=-1",
        "page=abc",
        "page=99999999999999999999",
        "prix_min=abc",
        "prix_min=-3",
        "prix_max=1e9",
        "prix_min=20&prix_max=5",
        "commune=atlantis",
        "metier=%00",
        "mode=teleportation",
        "tri=hasard",
        "ouvert=oui&en_stock=x",
        "q=" + "a" * 5000,
        "q=%27%3B+DROP+TABLE+product%3B--",
        "q=%22%22%2A%28%29+AND+OR+NOT",
        "q=+++",
        "q=le+la+de",
    ],
)
def test_bad_input_never_fails(client: Any, town: dict[str, Any], query: str) -> None:
    response = client.get(f"/recherche?{query}")
    assert response.status_code == 200, query


def test_bad_input_is_named_to_the_resident(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/recherche?prix_min=abc&commune=atlantis&prix_max=5&tri=hasard").text
    assert "Indiquez un prix en euros" in page
    assert "Commune inconnue : le filtre est ignoré." in page
    assert 'aria-describedby="error-prix_min"' in page
    assert 'id="error-prix_min"' in page
    # the valid filter still applies
    assert "Tablette de chocolat noir" in page
    assert "Chaussure de marche" not in page


def test_parse_search_reads_euros_into_cents(town: dict[str, Any]) -> None:
    communes = [town["marmande"], town["tonneins"]]
    params, errors = ops.parse_search(
        {"prix_min": "2,50", "prix_max": "12", "commune": "tonneins", "page": "3"}, communes, []
    )
    assert errors == {}
    assert (params.price_min_cents, params.price_max_cents) == (250, 1200)
    assert params.commune is town["tonneins"]
    assert params.page == 3
    assert params.query_args()["prix_min"] == "2,50"


def test_search_page_is_accessible(client: Any, town: dict[str, Any]) -> None:
    page = client.get("/recherche?q=cafe").text
    assert 'role="search"' in page
    assert 'role="status"' in page
    assert "1 produit" in page
    for field_id in (
        "search-q",
        "search-commune",
        "search-trade",
        "search-price-min",
        "search-price-max",
        "search-method",
        "search-open",
        "search-stock",
        "search-sort",
    ):
        assert f'id="{field_id}"' in page
        assert f'for="{field_id}"' in page, field_id
    assert page.count("<fieldset>") == page.count("<legend>") == 3


def _queries(client: Any, count_queries: Any, path: str) -> list[str]:
    client.get(path)
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200
    return counter.statements


def test_queries_do_not_grow_with_results(
    app: Flask, client: Any, count_queries: Any, town: dict[str, Any]
) -> None:
    def add(n: int) -> None:
        for i in range(n):
            shop = ShopFactory(commune=town["marmande"], name=f"Torréfacteur {i}")
            item = product(shop, f"Café en grains {i}", category="Café")
            VariantFactory(product=item, price_cents=2000, stock=0)
        db.session.commit()

    add(5)
    few = _queries(client, count_queries, "/recherche?q=cafe&tri=prix-croissant")
    add(45)
    many = _queries(client, count_queries, "/recherche?q=cafe&tri=prix-croissant")
    page = client.get("/recherche?q=cafe&tri=prix-croissant").text
    assert page.count('class="card product-card"') == ops.PAGE_SIZE
    assert len(few) == len(many), "\n".join(many)

    filtered = "/recherche?q=cafe&en_stock=1&mode=click_and_collect&prix_max=30&commune=marmande"
    assert len(_queries(client, count_queries, filtered)) == len(many)


def test_search_indexes_are_used_and_hidden_from_autogenerate(app: Flask) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    names = set(
        db.session.scalars(
            db_text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'search_%'")
        )
    )
    assert names == {
        "search_product_search_document",
        "search_product_name_trgm",
        "search_shop_document",
        "search_shop_name_trgm",
    }
    # product's document is stored by PostgreSQL (generated), never written by the app
    generated = db.session.scalar(
        db_text(
            "SELECT attgenerated FROM pg_attribute "
            "WHERE attrelid = 'product'::regclass AND attname = 'search_document'"
        )
    )
    assert generated == "s"

    def include_object(obj: Any, name: str | None, type_: str, *args: Any) -> bool:
        # the same rule as migrations/env.py
        return not (type_ in ("index", "table", "column") and (name or "").startswith("search_"))

    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(context, db.metadata) == []


def db_text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


# --- The embedded mode: SQLite and FTS5 ----------------------------------------------


def test_sqlite_search_with_fts5(tmp_path: Path, restore_celery: None) -> None:
    from flask_migrate import upgrade

    app = embedded_app(tmp_path / "embedded.sqlite3", SERVER_NAME="embedded.test")
    with app.app_context():
        upgrade()
        territory = TerritoryFactory()
        commune = CommuneFactory(territory=territory, slug="marmande-sqlite")
        shop = ShopFactory(commune=commune, name="Pas à Pas")
        product(shop, "Chaussure de marche", price=8990)
        product(shop, "Café moulu pur arabica", price=650)
        product(shop, "Tablette de chocolat noir", price=390, stock=0)
        product(shop, "Café caché", status=ProductStatus.DRAFT)
        db.session.commit()

        assert found("chaussures") == ["Chaussure de marche"]
        assert found("cafe") == ["Café moulu pur arabica"]
        assert found("chocolt") == ["Tablette de chocolat noir"]  # prefix fallback
        assert found("cafe", in_stock=True, price_max_cents=1000) == ["Café moulu pur arabica"]
        assert found(sort=ops.Sort.PRICE_ASC)[0] == "Tablette de chocolat noir"
        result = ops.search(ops.SearchParams(q="pas a pas"), MONDAY_10H)
        assert [s.name for s in result.shops] == ["Pas à Pas"]

        # the triggers keep the index in step with edits and deletions
        coffee = db.session.scalars(
            db_text("SELECT id FROM product WHERE name LIKE 'Café moulu%'")
        ).one()
        db.session.execute(
            db_text("UPDATE product SET name = 'Thé vert' WHERE id = :id"), {"id": coffee}
        )
        db.session.commit()
        db.session.expire_all()  # raw SQL changed a row the session already holds
        assert found("cafe") == []
        assert found("the") == ["Thé vert"]

        suggestions = ops.search(ops.SearchParams(q="xocolat"), MONDAY_10H).suggestions
        assert suggestions == ["chocolat"]

        client = app.test_client()
        page = client.get("/recherche?q=chaussures&prix_min=abc")
        assert page.status_code == 200
        assert "Chaussure de marche" in page.text
        assert "Indiquez un prix en euros" in page.text
        db.session.remove()
    app.extensions["sqlalchemy_engine"].dispose()


def test_sqlite_downgrade_removes_the_fts_tables(tmp_path: Path, restore_celery: None) -> None:
    from flask_migrate import downgrade, upgrade

    app = embedded_app(tmp_path / "down.sqlite3")
    with app.app_context():
        upgrade()
        downgrade(revision="0002_reservation")
        with db.engine.connect() as conn:
            left = conn.execute(
                db_text("SELECT name FROM sqlite_master WHERE name LIKE 'search%'")
            ).all()
        assert left == []
        upgrade()
    app.extensions["sqlalchemy_engine"].dispose()


def test_light_stemming() -> None:
    assert ops._light_stem("chaussures") == "chaussur"
    assert ops._light_stem("chaussure") == "chaussur"
    assert ops._light_stem("cafe") == "cafe"
    assert ops._fts_terms("Les chaussures de marche", fuzzy=False) == '"chaussur"* "march"*'
    assert re.fullmatch(r'"choc"\*', ops._fts_terms("chocolt", fuzzy=True) or "")


def test_relevance_over_many_matches_ranks_the_closest_names_and_keeps_every_match(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past RANKED_CANDIDATES matches the full rank is computed only for the matches
    whose names are closest to the query: those come first, and every match is
    still on exactly one page, counted in the total."""
    monkeypatch.setattr(ops, "RANKED_CANDIDATES", 3)
    for i in range(30):
        product(town["grain"], f"Bol {i:02d}", description="Pour le café du matin")
    product(town["grain"], "Café en grains")
    db.session.flush()
    pages = [ops.search(ops.SearchParams(q="café", page=p), MONDAY_10H) for p in (1, 2)]
    assert pages[0].total == pages[1].total == 32
    names = [hit.product.name for result in pages for hit in result.products]
    assert sorted(names[:2]) == ["Café en grains", "Café moulu pur arabica"]
    assert len(names) == len(set(names)) == 32
    assert names[2:] == [f"Bol {i:02d}" for i in range(30)]


def test_queries_are_the_same_whether_a_shop_matches_or_not(
    client: Any, town: dict[str, Any], count_queries: Any
) -> None:
    product(town["grain"], "Pain aux grains")  # both searches find products
    db.session.commit()
    counts = []
    for path in ("/recherche?q=chocolat", "/recherche?q=grain"):  # "Au Bon Grain" matches
        client.get(path)
        with count_queries() as counter:
            page = client.get(path).text
        counts.append(len(counter.statements))
    assert "Au Bon Grain" in page
    assert counts[0] == counts[1], counts
