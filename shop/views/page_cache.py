"""Server-side cache of whole storefront pages for visitors who are not logged in.

A page is kept under its full URL, the locale and the visitor's basket count (the only
parts of the header that differ between anonymous visitors), for `PAGE_CACHE_SECONDS`
(60 by default; 0 turns the cache off; off under TESTING unless set). Every page holds
the visitor's own CSRF token (language switch, basket forms): the cached body holds a
placeholder instead, replaced on the way out by the token of the visitor's session, so
a token never crosses sessions. A logged-in visitor, a session with flashed messages
or anything but a 200 is never cached, and no HTTP cache header is set: the pages are
per session (token, basket count), only their expensive part is shared.

The store is Redis when PAGE_CACHE_REDIS_URL (by default REDIS_URL) is set, shared by
every worker (each keeps a copy of the pages it serves in memory, under the same
versioned keys), else an in-process store bounded in bytes that drops the least recently
used pages first. PAGE_CACHE_REDIS_URL alone shares the pages without making Redis
Celery's broker (tasks still run in-process).

Invalidation: every key carries the versions of what its page shows, and the commit of
a change bumps the versions it touches, so a change shows at once in the worker that
made it and, with Redis, in every other worker within PAGE_CACHE_VERSION_MS (1 s, the
time a worker trusts the versions it read). The first render of a shop's page in a
process only learns the shop's id (its version, read after the render, could already
be newer than what the page shows), so it is not kept:

- `base`: trades, communes, the territory (every page shows some of them), and any
  change whose shop cannot be told (bulk statements the hooks cannot read);
- `shops`: shops, their hours and closures: the home page's cards and map;
- `catalogue`: any change at all: search (its shop cards and product cards, prices
  and stock);
- `shop:<id>`: a change to that shop, its hours, closures, products or variants: the
  shop's page and its product pages. A checkout moves stock, so it empties search
  and the pages of the shops sold from, not every shop's pages.

The expiry bounds what the "open now" line and another process's changes can lag
behind without Redis.

These pages are read-only GETs and carry no rate limit, so Flask-Limiter skips its
per-request bookkeeping for them (`_limits_skipped`); every POST, the log-in among
them, keeps its limits.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlencode

from flask import Flask, current_app, g, has_app_context, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import BindParameter, Engine, event, select
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import operators

from marketplace.extensions import db, limiter
from marketplace.i18n import select_locale
from merchants.models import Product, Variant

View = TypeVar("View", bound=Callable[..., Any])

CSRF_PLACEHOLDER = "csrf-placeholder-1b7e3c"
DEFAULT_SECONDS = 60
DEFAULT_VERSION_MS = 1000
REDIS_PAUSE_SECONDS = 1.0  # after a failure, a worker reads nothing from Redis this long
LOCAL_MAX_BYTES = 64 * 1024 * 1024  # per process, without Redis (characters, roughly bytes)
SHOP_TABLES = frozenset({"shop", "opening_hours", "closure"})
CATALOGUE_TABLES = frozenset({"product", "variant"})
BASE_TABLES = frozenset({"trade", "commune", "territory"})
WATCHED_TABLES = SHOP_TABLES | CATALOGUE_TABLES | BASE_TABLES
VERSION_PREFIX = "comptoir:pages:version:"
BASE, SHOPS, CATALOGUE = "base", "shops", "catalogue"


def shop_scope(shop_id: int) -> str:
    return f"shop:{shop_id}"


class Store(Protocol):
    shop_ids: dict[str, int]  # shop slug -> id, learnt by this process
    memo: dict[str, Any]  # what this process keeps beside the pages (the territory)

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, seconds: int) -> None: ...
    def versions(self, names: Sequence[str]) -> list[int] | None: ...
    def bump(self, names: Iterable[str]) -> None: ...


class LocalStore:
    """Per-process store with expiry, at most `max_bytes` of pages: the least
    recently used go first."""

    def __init__(self, max_bytes: int = LOCAL_MAX_BYTES) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._size = 0
        self._max = max_bytes
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.shop_ids: dict[str, int] = {}
        self.memo: dict[str, Any] = {}

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return item[1]

    def set(self, key: str, value: str, seconds: float) -> None:
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (time.monotonic() + seconds, value)
            self._size += len(value)
            while self._size > self._max and self._items:
                self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        self._size -= len(self._items.pop(key)[1])

    def versions(self, names: Sequence[str]) -> list[int] | None:
        return [self._versions.get(name, 0) for name in names]

    def bump(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._versions[name] = self._versions.get(name, 0) + 1


class RedisStore:
    """Pages and versions in Redis, shared by every worker, with each page also kept
    in the worker's memory until its Redis expiry: a popular page is read from Redis
    once per worker, not sent over on every request. The versions are part of the
    key, so a copy in memory is never served after a change; a worker trusts the
    versions it read for `version_seconds` (1 by default) before asking Redis again,
    so a change made by another worker shows there within that time (at once in the
    worker that made it), and a cached page costs no round trip to Redis.

    When Redis fails (down, or hung until the half-second timeout), the worker stops
    reading from it for REDIS_PAUSE_SECONDS and renders without the cache: a page
    would otherwise wait for the timeout several times (its versions, its shop's
    panel, the territory) on every request. Bumps are always sent; one Redis did not
    take is sent again with this worker's next read of the versions or next bump, so a change
    committed while Redis was away still empties the other workers' pages once it is
    back (instead of leaving them up to their expiry)."""

    def __init__(
        self,
        url: str,
        local_bytes: int = LOCAL_MAX_BYTES,
        version_seconds: float = DEFAULT_VERSION_MS / 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, decode_responses=True)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._local = LocalStore(local_bytes)
        self._version_seconds = version_seconds
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # name -> (trusted until, version)
        self._paused_until = 0.0
        self._unsent: set[str] = set()  # bumps Redis did not take
        self.shop_ids: dict[str, int] = {}
        self.memo: dict[str, Any] = {}

    def get(self, key: str) -> str | None:
        value = self._local.get(key)
        if value is not None or self._paused():
            return value
        try:
            pipeline = self._redis.pipeline(transaction=False)
            pipeline.get(key)
            pipeline.pttl(key)
            value, left_ms = pipeline.execute()
        except self._errors:
            self._pause()
            return None
        if not isinstance(value, str):
            return None
        if isinstance(left_ms, int) and left_ms > 0:
            self._local.set(key, value, left_ms / 1000)
        return value

    def set(self, key: str, value: str, seconds: int) -> None:
        self._local.set(key, value, seconds)
        if self._paused():
            return
        try:
            self._redis.set(key, value, ex=seconds)
        except self._errors:
            self._pause()

    def versions(self, names: Sequence[str]) -> list[int] | None:
        now = self._clock()
        seen = [self._seen.get(name) for name in names]
        if all(s is not None and s[0] > now for s in seen):
            return [s[1] for s in seen if s is not None]
        if self._paused():
            return None
        if self._unsent:
            self.bump(())
            if self._paused():
                return None
        # Every version this worker knows is read again in the same round trip (one
        # per shop, a few hundred): product pages spread over every shop, and one
        # read a second then serves them all.
        wanted = list(dict.fromkeys([*names, *self._seen]))
        try:
            values = self._redis.mget([VERSION_PREFIX + name for name in wanted])
        except self._errors:
            self._pause()
            return None  # the store is down: do not cache
        read = dict(zip(wanted, [int(v or 0) for v in values], strict=True))
        self._remember(wanted, list(read.values()), now)
        return [read[name] for name in names]

    def bump(self, names: Iterable[str]) -> None:
        names = list(dict.fromkeys([*self._unsent, *names]))
        if not names:
            return
        try:
            pipeline = self._redis.pipeline(transaction=False)
            for name in names:
                pipeline.incr(VERSION_PREFIX + name)
            values = pipeline.execute()
        except self._errors:
            for name in names:  # ask Redis again rather than trust what it may have lost
                self._seen.pop(name, None)
            self._unsent.update(names)
            self._pause()
            return
        self._unsent.difference_update(names)
        self._remember(names, [int(v) for v in values], self._clock())

    def _paused(self) -> bool:
        return self._clock() < self._paused_until

    def _pause(self) -> None:
        self._paused_until = self._clock() + REDIS_PAUSE_SECONDS

    def _remember(self, names: Sequence[str], values: list[int], now: float) -> list[int]:
        until = now + self._version_seconds
        for name, value in zip(names, values, strict=True):
            kept = self._seen.get(name)
            if kept is not None and kept[0] > now and kept[1] > value:
                # Another thread of this worker bumped it (gthread) while this
                # answer was on its way: the older version must not hide its change.
                continue
            self._seen[name] = (until, value)
        return values


def init_app(app: Flask) -> None:
    seconds = app.config.get("PAGE_CACHE_SECONDS")
    if seconds is None:
        seconds = 0 if app.testing else DEFAULT_SECONDS
    app.config["PAGE_CACHE_SECONDS"] = int(seconds)
    redis_url = app.config.get("PAGE_CACHE_REDIS_URL") or app.config.get("REDIS_URL")
    version_ms = app.config.get("PAGE_CACHE_VERSION_MS", DEFAULT_VERSION_MS)
    store: Store = (
        RedisStore(redis_url, version_seconds=int(version_ms) / 1000) if redis_url else LocalStore()
    )
    app.extensions["page_cache"] = store


def store() -> Store | None:
    if not has_app_context():
        return None
    found: Store | None = current_app.extensions.get("page_cache")
    return found


def csrf_token() -> str:
    """The template's csrf_token(): the placeholder while a page is rendered for the
    cache, the session's token otherwise."""
    if g.get("page_cache_rendering"):
        return CSRF_PLACEHOLDER
    return _signed_csrf()


SIGNED_TOKEN_SECONDS = 300  # a signed token is valid an hour (WTF_CSRF_TIME_LIMIT)
SIGNED_TOKENS_KEPT = 50_000


def _signed_csrf() -> str:
    """Flask-WTF's signed token of the session's raw token, signed once every few
    minutes per session rather than on every page: signing is a tenth of what a
    cached page costs, and a token signed minutes ago is as good as a new one."""
    raw = session.get("csrf_token")
    if raw is None or "csrf_token" in g:
        return str(generate_csrf())
    signed: dict[str, tuple[float, str]] = current_app.extensions.setdefault("signed_csrf", {})
    now = time.monotonic()
    kept = signed.get(raw)
    if kept is not None and kept[0] > now:
        g.csrf_token = kept[1]  # where generate_csrf looks first, as if it had signed it
        return kept[1]
    token = str(generate_csrf())
    if len(signed) >= SIGNED_TOKENS_KEPT:
        signed.clear()
    signed[raw] = (now + SIGNED_TOKEN_SECONDS, token)
    return token


def note_shop(shop_id: int) -> None:
    """Called by a shop-scoped view: the shop its page shows (its version then keys
    the page)."""
    g.page_cache_shop = shop_id


@limiter.request_filter
def _limits_skipped() -> bool:
    """A GET (or HEAD) of a cached page: no limit applies, skip the limiter's work."""
    if request.method not in ("GET", "HEAD"):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "is_cached_page", False))


def _key(names: list[str], versions: list[int], basket_count: int, query: Sequence[str]) -> str:
    scopes = ",".join(f"{n}={v}" for n, v in zip(names, versions, strict=True))
    # Only the arguments the view reads (first value each, in a fixed order): an
    # unknown or repeated argument gets the same page, not a new copy to render and keep.
    read = urlencode([(name, request.args[name]) for name in query if name in request.args])
    # The locale as Babel's selector picks it, without building a babel Locale (a
    # cache hit renders nothing that needs one).
    raw = f"{scopes}|{select_locale()}|{basket_count}|{request.path}?{read}"
    return "comptoir:page:" + hashlib.sha256(raw.encode()).hexdigest()


def _shareable() -> bool:
    return (
        request.method == "GET"
        and not current_user.is_authenticated
        and ("_flashes" not in session)
    )


def _read_without_transaction() -> None:
    """A page rendered for the cache only reads: its statements run in autocommit,
    which spares the BEGIN and ROLLBACK round trips a transaction adds to each render
    (a miss is mostly waiting on PostgreSQL). Only when the session would open its
    own connection from the engine; a session bound to a connection already in a
    transaction (the tests') keeps it."""
    session = db.session()
    if session.in_transaction() or not isinstance(session.get_bind(), Engine):
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def cached_page(
    *scopes: str, shop_of: str | None = None, query: Sequence[str] = ()
) -> Callable[[View], View]:
    """Serve the view's page from the cache for visitors who are not logged in.

    `scopes`: the versions the page depends on (BASE, SHOPS, CATALOGUE). `shop_of`:
    the view argument holding a shop slug, for pages that show one shop (they also
    depend on that shop's version; the view calls `note_shop` with its id, and each
    process remembers which id a slug has). `query`: the query arguments the view
    reads; the page is kept under those alone.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seconds = current_app.config.get("PAGE_CACHE_SECONDS", 0)
            pages = store() if seconds else None
            if pages is None or not _shareable():
                return view(*args, **kwargs)
            from .basket import session_quantities

            basket_count = sum(session_quantities().values())
            slug = kwargs[shop_of] if shop_of else None
            known = pages.shop_ids.get(slug) if slug is not None else None
            names = list(scopes)
            if slug is not None and known is not None:
                names.append(shop_scope(known))
            key = None
            if slug is None or known is not None:
                versions = pages.versions(names)
                if versions is None:
                    return view(*args, **kwargs)  # the store is down
                key = _key(names, versions, basket_count, query)
                body = pages.get(key)
                if body is not None:
                    return body.replace(CSRF_PLACEHOLDER, csrf_token())
            g.page_cache_rendering, g.page_cache_shop = True, None
            try:
                # Inside: a database out of reach fails here, and the error page
                # must get the session's token, not the placeholder.
                _read_without_transaction()
                result = view(*args, **kwargs)
            finally:
                g.page_cache_rendering = False
            if not isinstance(result, str):
                return result  # a redirect, an abort's response: never kept
            if slug is not None and g.page_cache_shop != known:
                # First render of this slug in this process (or the slug changed
                # shops): learn its shop, keep nothing. The shop's version can only
                # be read now, and a change committed during the render would
                # have moved it already: the page would be kept under a version
                # newer than what it shows.
                if g.page_cache_shop is not None:
                    pages.shop_ids[slug] = g.page_cache_shop
                key = None
            if key is not None:
                pages.set(key, result, seconds)
            return result.replace(CSRF_PLACEHOLDER, csrf_token())

        wrapped.is_cached_page = True  # type: ignore[attr-defined]
        return cast(View, wrapped)

    return decorate


def cached_fragment(name: str, scopes: Sequence[str], render: Callable[[], str]) -> str:
    """A piece shared by many pages (a shop's panel on each of its product pages),
    rendered once and kept like the pages, under the versions of `scopes` and the
    locale, for half the pages' time: a page built from it then lags at most 1.5
    times the pages' expiry behind the clock ("open now"). It must hold nothing of
    the visitor (no token, no basket), since logged-in visitors' pages use it too."""
    seconds = current_app.config.get("PAGE_CACHE_SECONDS", 0)
    pages = store() if seconds else None
    names = list(scopes)
    versions = pages.versions(names) if pages is not None else None
    if pages is None or versions is None:
        return render()
    parts = ",".join(f"{n}={v}" for n, v in zip(names, versions, strict=True))
    raw = f"{name}|{parts}|{select_locale()}"
    key = "comptoir:fragment:" + hashlib.sha256(raw.encode()).hexdigest()
    found = pages.get(key)
    if found is None:
        found = render()
        pages.set(key, found, max(1, seconds // 2))
    return found


# --- Invalidation: versions move at the commit of a catalogue change -------------------


def _changes(session: Session) -> set[str]:
    changed: set[str] = session.info.setdefault("pages_changed", set())
    changed.add(CATALOGUE)
    return changed


def _variant_shops(session: Session, variant_ids: Iterable[int]) -> set[int] | None:
    """The shops of these variants, from the session's identity map when it holds
    them, else with one query; None when a variant cannot be placed."""
    shops: set[int] = set()
    unknown = []
    for variant_id in variant_ids:
        variant = session.identity_map.get(identity_key(Variant, variant_id))
        product_id = getattr(variant, "product_id", None)
        product = (
            session.identity_map.get(identity_key(Product, product_id))
            if product_id is not None
            else None
        )
        if product is not None:
            shops.add(product.shop_id)
        else:
            unknown.append(variant_id)
    if unknown:
        found = session.execute(
            select(Variant.id, Product.shop_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(unknown))
        ).all()
        if len(found) < len(set(unknown)):
            return None
        shops.update(shop_id for _, shop_id in found)
    return shops


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(instance), "__tablename__", None)
        if table not in WATCHED_TABLES:
            continue
        changed = _changes(session)
        if table in BASE_TABLES:
            changed.add(BASE)
        elif table == "shop":
            changed.update((SHOPS, shop_scope(instance.id)))
        elif table in SHOP_TABLES:
            changed.update((SHOPS, shop_scope(instance.shop_id)))
        elif table == "product":
            changed.add(shop_scope(instance.shop_id))
        else:  # a variant: its product's shop, if the session holds the product
            product = session.identity_map.get(identity_key(Product, instance.product_id))
            changed.add(shop_scope(product.shop_id) if product is not None else BASE)


def _ids_in(statement: Any, column: Any) -> list[int] | None:
    """The ids a bulk statement is limited to (`id = x` or `id IN (...)` among the
    ANDed conditions of its WHERE), or None when it is not limited that way."""
    where = getattr(statement, "whereclause", None)
    if where is None:
        return None
    conditions = where.clauses if getattr(where, "operator", None) is operators.and_ else [where]
    for condition in conditions:
        left, right = getattr(condition, "left", None), getattr(condition, "right", None)
        if left is None or not isinstance(right, BindParameter) or not left.compare(column):
            continue
        value = right.effective_value
        if condition.operator is operators.eq and isinstance(value, int):
            return [value]
        if condition.operator is operators.in_op and isinstance(value, list | tuple):
            return [int(v) for v in value]
    return None


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table not in WATCHED_TABLES:
        return
    changed = _changes(state.session)
    ids = _ids_in(state.statement, Variant.__table__.c.id) if table == "variant" else None
    shops = _variant_shops(state.session, ids) if ids is not None and state.is_update else None
    if shops is None:
        changed.add(BASE)  # which pages it touches cannot be told: all of them
    else:
        changed.update(shop_scope(shop_id) for shop_id in shops)


@event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    changed = session.info.pop("pages_changed", None)
    if changed:
        pages = store()
        if pages is not None:
            pages.bump(sorted(changed))


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("pages_changed", None)
