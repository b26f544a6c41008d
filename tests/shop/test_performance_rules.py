"""Storefront performance rules: pages by the page (home, shop catalogue), constant
SQL statements, the page cache only for visitors who are not logged in, and never a
CSRF token shared between sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from marketplace.extensions import db
from shop.operations import search as ops
from shop.views import page_cache
from tests.factories import (
    CommuneFactory,
    ProductFactory,
    ShopFactory,
    TerritoryFactory,
    UserFactory,
    VariantFactory,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _cards(page: str) -> int:
    return page.count('class="card')


@pytest.fixture
def page_cached(app: Flask) -> Iterator[Flask]:
    """The page cache on, in a store of its own (tests share URLs across data)."""
    before = app.config["PAGE_CACHE_SECONDS"], app.extensions["page_cache"]
    app.config["PAGE_CACHE_SECONDS"] = 60
    app.extensions["page_cache"] = page_cache.LocalStore()
    try:
        yield app
    finally:
        app.config["PAGE_CACHE_SECONDS"], app.extensions["page_cache"] = before


def test_home_is_paginated_and_the_map_shows_every_shop(client: Any) -> None:
    territory = TerritoryFactory()
    commune = CommuneFactory(territory=territory)
    for _ in range(ops.HOME_PAGE_SIZE + 5):
        ShopFactory(commune=commune)
    db.session.commit()

    first = client.get("/").text
    assert _cards(first) == ops.HOME_PAGE_SIZE
    assert f"{ops.HOME_PAGE_SIZE + 5} commerces" in first
    assert 'rel="next"' in first and "/?page=2" in first
    points = re.search(r'id="shop-map-data">(.*?)</script>', first, re.S)
    assert points is not None and points.group(1).count('"url"') == ops.HOME_PAGE_SIZE + 5

    second = client.get("/?page=2").text
    assert _cards(second) == 5
    assert 'rel="prev"' in second
    assert _cards(client.get("/?page=999").text) == 5  # past the end: the last page
    assert _cards(client.get("/?page=abc").text) == ops.HOME_PAGE_SIZE


def test_home_queries_are_the_same_on_every_page(client: Any, count_queries: Any) -> None:
    commune = CommuneFactory(territory=TerritoryFactory())
    for _ in range(ops.HOME_PAGE_SIZE * 2 + 3):
        ShopFactory(commune=commune)
    db.session.commit()
    counts = []
    for path in ("/", "/?page=2", "/?page=3"):
        client.get(path)
        with count_queries() as counter:
            client.get(path)
        counts.append(len(counter.statements))
    assert len(set(counts)) == 1, counts


def test_shop_catalogue_is_paginated_with_every_category(client: Any, count_queries: Any) -> None:
    shop = ShopFactory()
    for i in range(ops.CATALOGUE_PAGE_SIZE + 10):
        product = ProductFactory(shop=shop, category=f"Rayon {i % 3}", name=f"Article {i:03d}")
        VariantFactory(product=product)
    db.session.commit()
    path = f"/boutiques/{shop.slug}"

    first = client.get(path).text
    assert first.count('<li class="card">') == ops.CATALOGUE_PAGE_SIZE
    for n in range(3):  # every category listed with its full count, whatever the page
        assert f"Rayon {n} (" in first
    assert "page 1 sur 2" in first

    second = client.get(f"{path}?page=2").text
    assert second.count('<li class="card">') == 10
    assert "Rayon 2 (" in second

    client.get(path)
    with count_queries() as few:
        client.get(path)
    with count_queries() as more:
        client.get(f"{path}?page=2")
    assert len(few.statements) == len(more.statements)


def test_commune_outlines_are_never_loaded_by_the_storefront(
    client: Any, count_queries: Any
) -> None:
    shop = ShopFactory()
    db.session.commit()
    for path in ("/", f"/boutiques/{shop.slug}", "/recherche?q=a"):
        client.get(path)
        with count_queries() as counter:
            assert client.get(path).status_code == 200, path
        assert counter.statements, path
        assert not [s for s in counter.statements if "commune.outline" in s], path


def test_anonymous_pages_are_cached_with_each_session_token(
    page_cached: Flask, client: Any, count_queries: Any
) -> None:
    shop = ShopFactory()
    variant = VariantFactory(product=ProductFactory(shop=shop), stock=5)
    db.session.commit()
    path = f"/boutiques/{shop.slug}"
    client.get(path)  # the first page of a shop learns its id, keeps nothing
    first = client.get(path).text
    with count_queries() as counter:
        again = client.get(path).text
    assert len(counter.statements) == 0  # served from the cache
    assert again == first
    assert page_cache.CSRF_PLACEHOLDER not in again

    other = page_cached.test_client()
    theirs = other.get(path).text
    mine, their = set(CSRF.findall(first)), set(CSRF.findall(theirs))
    assert len(mine) == 1 and len(their) == 1 and mine != their
    # The token each page carries (signed once, then reused) is the session's own.
    form = {"variant_id": variant.id, "mode": "add", "quantity": 1, "next": path}
    assert other.post("/panier", data={**form, "csrf_token": mine.pop()}).status_code == 400
    assert other.post("/panier", data={**form, "csrf_token": their.pop()}).status_code == 302


def test_a_catalogue_change_empties_the_cache(page_cached: Flask, client: Any) -> None:
    shop = ShopFactory()
    product = ProductFactory(shop=shop, name="Ancien nom")
    VariantFactory(product=product)
    db.session.commit()
    path = f"/boutiques/{shop.slug}"
    assert "Ancien nom" in client.get(path).text
    product.name = "Nouveau nom"
    db.session.commit()
    assert "Nouveau nom" in client.get(path).text


def test_logged_in_pages_are_never_cached(
    page_cached: Flask, client: Any, count_queries: Any
) -> None:
    shop = ShopFactory()
    user = UserFactory()
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    path = f"/boutiques/{shop.slug}"
    client.get(path)
    with count_queries() as counter:
        response = client.get(path)
    assert len(counter.statements) > 0
    assert "public" not in response.headers.get("Cache-Control", "")


def test_no_storefront_page_is_publicly_cacheable(client: Any) -> None:
    """Every page holds the session's CSRF token: no shared HTTP cache may keep it."""
    shop = ShopFactory()
    db.session.commit()
    for path in ("/", f"/boutiques/{shop.slug}", "/recherche?q=a"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "public" not in response.headers.get("Cache-Control", ""), path
