"""Finer invalidation of the anonymous page cache: a change empties the pages that
show it (at once) and leaves the others served from the cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, update
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from merchants.models import Variant
from shop.views import page_cache
from tests.factories import ProductFactory, ShopFactory, UserFactory, VariantFactory


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


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty Redis db of this test run's own (INTEGRATION_REDIS_DB), emptied after."""
    from tests.conftest import service_missing

    url = f"redis://127.0.0.1:6379/{int(os.environ.get('INTEGRATION_REDIS_DB', '5'))}"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    yield url
    redis.Redis.from_url(url).flushdb()


def _served_from_cache(client: Any, count_queries: Any, path: str) -> tuple[bool, str]:
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    return not counter.statements, response.text


@pytest.fixture
def two_shops() -> dict[str, Any]:
    shops = {}
    for name in ("a", "b"):
        shop = ShopFactory(name=f"Boutique {name.upper()}")
        product = ProductFactory(shop=shop, name=f"Lampe {name.upper()}")
        variant = VariantFactory(product=product, stock=20)
        shops[name] = {"shop": shop, "product": product, "variant": variant}
    db.session.commit()
    return {
        name: {
            "variant_id": s["variant"].id,
            "product": s["product"],
            "shop": s["shop"],
            "shop_path": f"/boutiques/{s['shop'].slug}",
            "product_path": f"/boutiques/{s['shop'].slug}/{s['product'].slug}",
        }
        for name, s in shops.items()
    }


def _warm(client: Any, shops: dict[str, Any], *extra: str) -> None:
    for s in shops.values():
        client.get(s["shop_path"])  # the first page of a shop learns its id, keeps nothing
        client.get(s["shop_path"])
        client.get(s["product_path"])
    for path in extra:
        client.get(path)


def test_a_product_change_empties_its_shop_pages_and_search_only(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    a, b = two_shops["a"], two_shops["b"]
    _warm(client, two_shops, "/", "/recherche?q=lampe")

    a["product"].name = "Lampe renommée"
    db.session.commit()

    for path in (a["shop_path"], a["product_path"], "/recherche?q=lampe"):
        cached, page = _served_from_cache(client, count_queries, path)
        assert not cached, path
        assert "Lampe renommée" in page, path
    for path in (b["shop_path"], b["product_path"], "/"):
        cached, _ = _served_from_cache(client, count_queries, path)
        assert cached, path


def test_a_checkout_stock_update_shows_at_once_on_that_shop_only(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    """The checkout takes stock with a bulk UPDATE ... WHERE variant.id = :id."""
    a, b = two_shops["a"], two_shops["b"]
    _warm(client, two_shops, "/recherche?q=lampe")
    assert "En stock" in client.get(a["product_path"]).text
    db.session.expunge_all()  # as in a fresh request: the variant is not in the session

    db.session.execute(
        update(Variant)
        .where(Variant.id == a["variant_id"], Variant.stock >= 20)
        .values(stock=Variant.stock - 20)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()

    cached, page = _served_from_cache(client, count_queries, a["product_path"])
    assert not cached and "Épuisé" in page
    cached, page = _served_from_cache(client, count_queries, "/recherche?q=lampe")
    assert not cached and "Épuisé" in page
    assert _served_from_cache(client, count_queries, b["product_path"])[0]
    assert _served_from_cache(client, count_queries, b["shop_path"])[0]


def test_a_shop_change_shows_on_home_and_its_pages(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    a, b = two_shops["a"], two_shops["b"]
    _warm(client, two_shops, "/")
    a["shop"].tagline = "Nouvelle accroche"
    db.session.commit()
    for path in ("/", a["shop_path"], a["product_path"]):
        cached, page = _served_from_cache(client, count_queries, path)
        assert not cached and "Nouvelle accroche" in page, path
    assert _served_from_cache(client, count_queries, b["shop_path"])[0]


def test_a_trade_rename_empties_every_page(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    b = two_shops["b"]
    _warm(client, two_shops, "/", "/recherche?q=lampe")
    b["shop"].trade.name_fr = "Luminaires"
    db.session.commit()
    for path in (
        "/",
        "/recherche?q=lampe",
        two_shops["a"]["shop_path"],
        b["shop_path"],
        b["product_path"],
    ):
        assert not _served_from_cache(client, count_queries, path)[0], path
    assert "Luminaires" in client.get(b["shop_path"]).text


def test_a_bulk_change_the_cache_cannot_place_empties_every_page(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    _warm(client, two_shops, "/")
    db.session.execute(update(Variant).where(Variant.stock > 0).values(stock=0))
    db.session.commit()
    for s in two_shops.values():
        cached, page = _served_from_cache(client, count_queries, s["product_path"])
        assert not cached and "Épuisé" in page


def test_a_rolled_back_change_keeps_the_cache(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    a = two_shops["a"]
    _warm(client, two_shops)
    a["product"].name = "Jamais enregistré"
    db.session.flush()
    db.session.rollback()
    cached, page = _served_from_cache(client, count_queries, a["product_path"])
    assert cached and "Jamais enregistré" not in page


def test_the_local_store_drops_the_least_recently_used_pages_first() -> None:
    store = page_cache.LocalStore(max_bytes=30)
    store.set("one", "x" * 10, 60)
    store.set("two", "y" * 10, 60)
    store.set("three", "z" * 10, 60)
    assert store.get("one") == "x" * 10  # now the most recently used
    store.set("four", "w" * 10, 60)  # over 30: "two" goes
    assert store.get("two") is None
    assert store.get("one") and store.get("three") and store.get("four")
    store.set("huge", "h" * 31, 60)  # larger than the store: never kept
    assert store.get("huge") is None


def test_the_local_store_forgets_expired_pages() -> None:
    store = page_cache.LocalStore()
    store.set("page", "body", 0)
    assert store.get("page") is None


def test_each_language_has_its_own_cached_page(
    page_cached: Flask, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    path = two_shops["a"]["shop_path"]
    french, english = page_cached.test_client(), page_cached.test_client()
    french.get(path, headers={"Accept-Language": "fr"})
    english.get(path, headers={"Accept-Language": "en"})
    french_page = french.get(path, headers={"Accept-Language": "fr"}).text
    english_page = english.get(path, headers={"Accept-Language": "en"}).text
    assert 'lang="fr"' in french_page and 'lang="en"' in english_page
    with english.session_transaction() as session:
        session["locale"] = "fr"  # the language switch wins over the browser's
    assert 'lang="fr"' in english.get(path, headers={"Accept-Language": "en"}).text


@pytest.fixture
def limited_app(app: Flask, restore_celery: None) -> Iterator[Flask]:
    """An app with the rate limiter on and the page cache on (the suite runs with the
    limiter off, and the limiter is one object per process: put it back after)."""
    from marketplace import create_app
    from marketplace.extensions import limiter
    from tests.conftest import TEST_CONFIG

    limited = create_app(
        dict(TEST_CONFIG, RATELIMIT_ENABLED=True, PAGE_CACHE_SECONDS=60, WTF_CSRF_ENABLED=False)
    )
    limited.extensions["page_cache"] = page_cache.LocalStore()
    try:
        with limited.app_context():
            limiter.reset()
            yield limited
    finally:
        limiter.reset()
        limiter.enabled = False


def test_cached_pages_skip_the_limiter_and_log_in_keeps_its_limit(
    limited_app: Flask, two_shops: dict[str, Any]
) -> None:
    for path in ("/", two_shops["a"]["shop_path"], two_shops["a"]["product_path"]):
        with limited_app.test_request_context(path):
            assert page_cache._limits_skipped(), path
    for method, path in (("POST", "/"), ("GET", "/panier"), ("POST", "/compte/connexion")):
        with limited_app.test_request_context(path, method=method):
            assert not page_cache._limits_skipped(), (method, path)

    client = limited_app.test_client()
    for _ in range(3):
        assert client.get(two_shops["a"]["shop_path"]).status_code == 200
    form = {"email": "nobody@example.org", "password": "wrong password"}
    statuses = [client.post("/compte/connexion", data=form).status_code for _ in range(11)]
    assert 429 not in statuses[:10] and statuses[10] == 429


def test_page_cache_redis_url_alone_shares_pages_and_keeps_tasks_in_process(
    app: Flask,
    restore_celery: None,
    count_queries: Any,
    two_shops: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    from marketplace import create_app
    from marketplace.config import from_environment
    from tests.conftest import TEST_CONFIG

    url = redis_url

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("PAGE_CACHE_REDIS_URL", url)
    config = from_environment(app.instance_path)
    assert config["PAGE_CACHE_REDIS_URL"] == url and config["REDIS_URL"] is None
    assert config["CELERY"]["task_always_eager"] is True  # no broker: tasks in-process

    # Two apps as two gunicorn workers: a page one renders, the other serves.
    workers = [
        create_app(
            dict(
                TEST_CONFIG,
                PAGE_CACHE_SECONDS=60,
                PAGE_CACHE_REDIS_URL=url,
                PAGE_CACHE_VERSION_MS=0,  # every request reads the versions from Redis
            )
        )
        for _ in range(2)
    ]
    assert all(isinstance(w.extensions["page_cache"], page_cache.RedisStore) for w in workers)
    product_path, shop_path = two_shops["a"]["product_path"], two_shops["a"]["shop_path"]
    first, second = (w.test_client() for w in workers)
    assert first.get(shop_path).status_code == 200  # learns the shop's id
    assert "Lampe A" in first.get(product_path).text  # rendered and kept by the first
    # The second learns the shop's id with its first page of that shop ...
    assert second.get(shop_path).status_code == 200
    # ... then serves the product page the first rendered, without SQL.
    served, text = _served_from_cache(second, count_queries, product_path)
    assert served and "Lampe A" in text
    served, _ = _served_from_cache(second, count_queries, two_shops["b"]["shop_path"])
    assert not served  # a page nobody rendered yet is rendered
    # Each worker keeps the pages it served in memory; a change committed by the
    # other worker moves the version in Redis, and the copy is not served again.
    product = two_shops["a"]["product"]
    product.name = "Lampe renommée"
    db.session.flush()
    workers[0].extensions["page_cache"].bump([page_cache.shop_scope(product.shop_id)])
    served, text = _served_from_cache(second, count_queries, product_path)
    assert not served and "Lampe renommée" in text
    served, text = _served_from_cache(first, count_queries, product_path)
    assert served and "Lampe renommée" in text  # the second's render, shared


def test_a_rendered_page_reads_the_territory_from_memory_until_it_changes(
    page_cached: Flask, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    from marketplace.models import Territory

    shop = two_shops["a"]["shop"]
    other = ProductFactory(shop=shop, name="Lampe de poche")
    VariantFactory(product=other, stock=3)
    db.session.commit()
    path, territory_id = f"/boutiques/{shop.slug}/{other.slug}", shop.territory_id
    client = page_cached.test_client()
    client.get(two_shops["a"]["product_path"])  # reads the territory once
    db.session.expunge_all()  # a request's own session, as in production
    with count_queries() as counter:
        page = client.get(path)  # rendered, not cached
    assert page.status_code == 200 and "Lampe de poche" in page.text
    assert counter.statements  # a render ...
    assert not [s for s in counter.statements if "FROM territory" in s]  # ... without it

    territory = db.session.get(Territory, territory_id)
    assert territory is not None
    territory.name = "Pays renommé"
    db.session.commit()  # moves the base version: every page, and the territory, again
    page = client.get(path)
    assert "Pays renommé" in page.text


def test_a_worker_trusts_the_versions_it_read_for_a_second_only(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    """Two workers on one Redis: the one that commits a change sees it at once; the
    other keeps serving what it read for `version_seconds`, then reads again."""
    now = [100.0]
    writer, reader = (
        page_cache.RedisStore(redis_url, version_seconds=1.0, clock=lambda: now[0])
        for _ in range(2)
    )
    assert writer.versions(["shop:1"]) == reader.versions(["shop:1"]) == [0]
    writer.bump(["shop:1"])
    assert writer.versions(["shop:1"]) == [1]  # the worker that made the change
    assert reader.versions(["shop:1"]) == [0]  # still trusted
    assert reader.versions(["shop:2"]) == [0]
    writer.bump(["shop:2"])
    now[0] += 1.01
    assert reader.versions(["shop:1"]) == [1]
    assert reader.versions(["shop:1", "base"]) == [1, 0]  # one name never read: asked
    # One stale name refreshed every name the worker knows, in the same round trip.
    redis.Redis.from_url(redis_url).flushdb()
    assert reader.versions(["shop:2"]) == [1]


def test_a_long_tail_product_page_costs_one_query_once_its_shop_panel_is_kept(
    page_cached: Flask, client: Any, count_queries: Any
) -> None:
    """The shop's part of its product pages (advice, fulfilment times, card, other
    products) is rendered once per shop: a product page never requested before then
    reads only its product, and shows the shop's other products, not itself."""
    shop = ShopFactory(name="Quincaillerie Martin", advice="Demandez conseil !")
    products = [ProductFactory(shop=shop, name=f"Outil {n}") for n in "ABC"]
    for product in products:
        VariantFactory(product=product, stock=5)
    db.session.commit()
    paths = [f"/boutiques/{shop.slug}/{p.slug}" for p in products]
    client.get(f"/boutiques/{shop.slug}")  # the shop page: its id is known

    first = client.get(paths[0]).text
    with count_queries() as counter:
        page = client.get(paths[1])
    assert page.status_code == 200
    assert len(counter.statements) == 1, counter.statements  # the product, nothing else
    others = page.text.split('id="others"')[1]
    assert "Outil A" in others and "Outil C" in others and "Outil B" not in others
    assert "Demandez conseil !" in page.text and "Quincaillerie Martin" in page.text
    assert "Outil A" not in first.split('id="others"')[1]


def test_the_shop_panel_holds_nothing_of_the_visitor(
    page_cached: Flask, client: Any, two_shops: dict[str, Any]
) -> None:
    """Logged-in visitors' product pages use the shared panel too: it must carry no
    session token or basket."""
    user = UserFactory()
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    page = client.get(two_shops["a"]["product_path"])
    assert page.status_code == 200 and "Boutique A" in page.text
    store = page_cached.extensions["page_cache"]
    fragments = [value for _, value in store._items.values()]
    assert fragments, "the panel was kept"
    assert all("csrf" not in value for value in fragments)


def test_a_page_is_kept_under_the_arguments_its_view_reads_only(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    """Made-up query arguments get the page already kept (they cannot fill the store
    or force a render); arguments the page reads still get their own page."""
    client.get("/recherche?q=lampe")
    for path in ("/recherche?q=lampe&utm_source=x", "/recherche?x=1&q=lampe&q=autre"):
        served, text = _served_from_cache(client, count_queries, path)
        assert served and "Lampe A" in text, path
    served, text = _served_from_cache(client, count_queries, "/recherche?q=lampe&tri=name")
    assert not served and "Lampe A" in text
    shop_path = two_shops["a"]["shop_path"]
    client.get(shop_path)  # learns the shop's id
    client.get(shop_path)
    assert _served_from_cache(client, count_queries, f"{shop_path}?ref=newsletter")[0]
    assert not _served_from_cache(client, count_queries, f"{shop_path}?page=2")[0]


def test_a_page_rendered_for_the_cache_reads_without_a_transaction(
    committed_app: Flask,
) -> None:
    """On the engine (as in production), a page rendered for the cache reads in
    autocommit: no BEGIN and ROLLBACK round trips around its statements. A logged-in
    visitor's page, which is never cached, keeps its transaction."""
    from sqlalchemy import event

    shop = ShopFactory()
    product = ProductFactory(shop=shop, name="Lampe tempête")
    VariantFactory(product=product, stock=3)
    user = UserFactory()
    db.session.commit()
    path = f"/boutiques/{shop.slug}/{product.slug}"
    before = committed_app.config["PAGE_CACHE_SECONDS"], committed_app.extensions["page_cache"]
    committed_app.config["PAGE_CACHE_SECONDS"] = 60
    committed_app.extensions["page_cache"] = page_cache.LocalStore()
    autocommit: list[bool] = []

    def seen(conn: Any, *_: Any) -> None:
        autocommit.append(conn.connection.dbapi_connection.autocommit)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = committed_app.test_client().get(path)
        assert page.status_code == 200 and "Lampe tempête" in page.text
        assert autocommit and all(autocommit)
        autocommit.clear()
        member = committed_app.test_client()
        with member.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        assert "Lampe tempête" in member.get(path).text
        assert autocommit and not any(autocommit)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        committed_app.config["PAGE_CACHE_SECONDS"], committed_app.extensions["page_cache"] = before


def test_a_change_made_while_a_shop_is_first_rendered_is_not_hidden(
    page_cached: Flask, client: Any, count_queries: Any, two_shops: dict[str, Any]
) -> None:
    """The first render of a shop's page in a process learns the shop's id and keeps
    nothing: its version can only be read after the render, and a change committed
    meanwhile (here, by another worker) must not be hidden behind the old page."""
    from shop.operations import search as ops

    a = two_shops["a"]
    original = ops.public_shop

    def rendered_while_another_worker_commits(slug: str) -> Any:
        shop = original(slug)
        page_cached.extensions["page_cache"].bump([page_cache.shop_scope(shop.id)])
        return shop

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ops, "public_shop", rendered_while_another_worker_commits)
        assert client.get(a["shop_path"]).status_code == 200
    served, _ = _served_from_cache(client, count_queries, a["shop_path"])
    assert not served  # rendered again from the database
    assert _served_from_cache(client, count_queries, a["shop_path"])[0]  # then kept


def test_a_page_that_cannot_reach_the_database_shows_an_error_page_with_a_real_token(
    committed_app: Flask, restore_celery: None
) -> None:
    """The database goes away before a page is rendered for the cache: the visitor
    gets the error page, and its forms (the language switch) carry the session's
    token, not the cache's placeholder, so they still work."""
    from marketplace import create_app
    from tests.conftest import TEST_CONFIG

    served = create_app(dict(TEST_CONFIG, TESTING=False, PAGE_CACHE_SECONDS=60))
    served.extensions["page_cache"] = page_cache.LocalStore()
    client = served.test_client()
    assert client.get("/").status_code == 200  # the header's territory is then in memory
    engine = served.extensions["sqlalchemy_engine"]
    engine.dispose()

    def unreachable(*_: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("database down"))

    event.listen(engine, "do_connect", unreachable)
    try:
        page = client.get("/recherche?q=lampe")
    finally:
        event.remove(engine, "do_connect", unreachable)
    assert page.status_code == 500 and "Une erreur est survenue" in page.text
    assert page_cache.CSRF_PLACEHOLDER not in page.text
    with client.session_transaction() as session:
        raw = session["csrf_token"]
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    signer = URLSafeTimedSerializer(served.config["SECRET_KEY"], salt="wtf-csrf-token")
    assert signer.loads(token) == raw


def test_a_version_read_while_the_same_worker_commits_does_not_hide_its_change(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    """gthread workers: one thread reads the versions from Redis while another, in the
    same worker, commits a change and bumps them. The read's answer left Redis before
    the bump: it must not put the older version back in front of the newer one."""
    now = [100.0]
    worker = page_cache.RedisStore(redis_url, version_seconds=1.0, clock=lambda: now[0])
    read = worker._redis.mget

    def read_then_another_thread_commits(keys: Any) -> Any:
        values = read(keys)  # the answer, as Redis sent it ...
        now[0] += 0.001
        worker.bump(["shop:1"])  # ... before the other thread's bump
        return values

    assert worker.versions(["shop:1"]) == [0]
    now[0] += 1.01  # no longer trusted: the next page reads again
    monkeypatch.setattr(worker._redis, "mget", read_then_another_thread_commits)
    worker.versions(["shop:1"])
    monkeypatch.undo()
    assert worker.versions(["shop:1"]) == [1]  # the change shows at once
    worker.bump(["shop:1"])
    assert worker.versions(["shop:1"]) == [2]


def test_a_worker_leaves_an_unreachable_redis_alone_for_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis down or hung: every page would wait for its timeout (half a second) once
    for its versions, once for the shop's panel and once for the territory, on every
    request. After a failure the worker renders without the cache for a second,
    without asking; a change's bump is still sent (it must not be lost)."""
    now = [100.0]
    worker = page_cache.RedisStore("redis://127.0.0.1:1/0", clock=lambda: now[0])
    pool = worker._redis.connection_pool
    asked: list[int] = []
    connect = pool.get_connection

    def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return connect(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", counted)
    assert worker.versions(["base", "shop:1"]) is None and asked
    tried = len(asked)
    assert worker.versions(["base"]) is None
    assert worker.get("comptoir:page:x") is None
    worker.set("comptoir:page:x", "page", 60)
    assert len(asked) == tried  # left alone
    assert worker.get("comptoir:page:x") == "page"  # the worker's own copy still serves
    worker.bump(["shop:1"])
    assert len(asked) > tried  # a change is always sent
    tried = len(asked)
    now[0] += 1.01
    assert worker.versions(["base"]) is None and len(asked) > tried  # asked again


def test_a_bump_redis_did_not_take_is_sent_once_it_is_back(redis_url: str) -> None:
    """A change committed while Redis was away empties the other workers' pages once
    Redis answers again, not only when those pages expire."""
    now = [100.0]
    writer, reader = (
        page_cache.RedisStore(redis_url, version_seconds=0.0, clock=lambda: now[0])
        for _ in range(2)
    )
    reachable = writer._redis
    assert reader.versions(["shop:7"]) == [0]
    writer._redis = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.5)  # down
    writer.bump(["shop:7"])
    assert reader.versions(["shop:7"]) == [0]  # not taken
    writer._redis = reachable  # back
    now[0] += page_cache.REDIS_PAUSE_SECONDS + 0.1
    assert writer.versions(["base"]) == [0]  # its next read sends the bump first
    assert reader.versions(["shop:7"]) == [1]
    writer.bump(["shop:7"])
    assert reader.versions(["shop:7"]) == [2]  # and only once
