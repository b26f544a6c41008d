"""Server-side cache of whole storefront pages for visitors who are not logged in.

A page is kept under its full URL, the locale and the visitor's basket count (the only
parts of the header that differ between anonymous visitors), for `PAGE_CACHE_SECONDS`
(60 by default; 0 turns the cache off; off under TESTING unless set). Every page holds
the visitor's own CSRF token (language switch, basket forms): the cached body holds a
placeholder instead, replaced on the way out by the token of the visitor's session, so
a token never crosses sessions. A logged-in visitor, a session with flashed messages
or anything but a 200 is never cached, and no HTTP cache header is set: the pages are
per session (token, basket count), only their expensive part is shared.

The store is Redis when REDIS_URL is set (shared by every worker), else a small
in-process store. Every key carries a catalogue version, bumped at the commit of any
change to shops, their hours, closures, products, variants (stock included), trades or
communes, so a change shows at once in the worker that made it and, with Redis, in
every worker; the expiry bounds what the "open now" line and another process's
changes can lag behind without Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol

from flask import Flask, current_app, g, has_app_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

CSRF_PLACEHOLDER = "csrf-placeholder-1b7e3c"
DEFAULT_SECONDS = 60
LOCAL_MAX_ENTRIES = 2000
WATCHED_TABLES = frozenset(
    {"shop", "opening_hours", "closure", "product", "variant", "trade", "commune", "territory"}
)
VERSION_KEY = "comptoir:pages:version"


class Store(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, seconds: int) -> None: ...
    def version(self) -> int: ...
    def bump(self) -> None: ...


class LocalStore:
    """Per-process store with expiry; cleared whole when full (pages are cheap to redo)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str]] = {}
        self._version = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def set(self, key: str, value: str, seconds: int) -> None:
        with self._lock:
            if len(self._items) >= LOCAL_MAX_ENTRIES:
                self._items.clear()
            self._items[key] = (time.monotonic() + seconds, value)

    def version(self) -> int:
        return self._version

    def bump(self) -> None:
        with self._lock:
            self._version += 1
            self._items.clear()


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, decode_responses=True)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def get(self, key: str) -> str | None:
        try:
            value = self._redis.get(key)
        except self._errors:
            return None
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str, seconds: int) -> None:
        with contextlib.suppress(*self._errors):
            self._redis.set(key, value, ex=seconds)

    def version(self) -> int:
        try:
            return int(self._redis.get(VERSION_KEY) or 0)
        except self._errors:
            return -1  # the store is down: do not cache

    def bump(self) -> None:
        with contextlib.suppress(*self._errors):
            self._redis.incr(VERSION_KEY)


def init_app(app: Flask) -> None:
    seconds = app.config.get("PAGE_CACHE_SECONDS")
    if seconds is None:
        seconds = 0 if app.testing else DEFAULT_SECONDS
    app.config["PAGE_CACHE_SECONDS"] = int(seconds)
    redis_url = app.config.get("REDIS_URL")
    store: Store = RedisStore(redis_url) if redis_url else LocalStore()
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
    return str(generate_csrf())


def _cacheable(basket_count: int) -> str | None:
    """The cache key of this request, or None when its page must not be shared."""
    if request.method != "GET" or current_user.is_authenticated or "_flashes" in session:
        return None
    pages = store()
    if pages is None:
        return None
    version = pages.version()
    if version < 0:
        return None
    raw = f"{version}|{get_locale()}|{basket_count}|{request.full_path}"
    return "comptoir:page:" + hashlib.sha256(raw.encode()).hexdigest()


def cached_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve the view's page from the cache for visitors who are not logged in."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        seconds = current_app.config.get("PAGE_CACHE_SECONDS", 0)
        if not seconds:
            return view(*args, **kwargs)
        from .basket import session_quantities

        key = _cacheable(sum(session_quantities().values()))
        if key is None:
            return view(*args, **kwargs)
        pages = store()
        assert pages is not None
        body = pages.get(key)
        if body is None:
            g.page_cache_rendering = True
            try:
                result = view(*args, **kwargs)
            finally:
                g.page_cache_rendering = False
            if not isinstance(result, str):
                return result  # a redirect, an abort's response: never kept
            body = result
            pages.set(key, body, seconds)
        return body.replace(CSRF_PLACEHOLDER, csrf_token())

    return wrapped


# --- Invalidation: the version moves at the commit of a catalogue change ---------------


def _touches_catalogue(session: Session) -> bool:
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(instance), "__tablename__", None)
        if table in WATCHED_TABLES:
            return True
    return False


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _touches_catalogue(session):
        session.info["catalogue_changed"] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info["catalogue_changed"] = True


@event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    if session.info.pop("catalogue_changed", False):
        pages = store()
        if pages is not None:
            pages.bump()


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("catalogue_changed", None)
