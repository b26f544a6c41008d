"""Storefront pages (blueprint `storefront`) and the shop staff's order queue."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user, user_logged_in
from sqlalchemy import select

from marketplace.extensions import db

from ..models import Basket, BasketLine
from . import browse, orders, page_cache, search, slip  # noqa: F401 - they register routes on blueprints
from .basket import merge_session_basket, session_quantities
from .common import STATUS_LABELS, bp, current_territory
from .staff import staff_bp

__all__ = ["bp", "init_app", "staff_bp"]


TERRITORY_NAME_SECONDS = 60
_territory_name: dict[str, Any] = {}  # per process: (base version, expiry, name)


def territory_name() -> str | None:
    """The territory's name for every page's header, read once a minute at most (and
    again as soon as the pages' base version moves) rather than on every page."""
    pages = page_cache.store() if current_app.config.get("PAGE_CACHE_SECONDS") else None
    versions = pages.versions([page_cache.BASE]) if pages is not None else None
    version = versions[0] if versions is not None else -1
    cached = _territory_name.get("entry")
    if cached is not None and cached[0] == version and cached[1] > time.monotonic():
        return cached[2]
    territory = current_territory()
    name = territory.name if territory else None
    if version >= 0:
        _territory_name["entry"] = (version, time.monotonic() + TERRITORY_NAME_SECONDS, name)
    return name


def init_app(app: Flask) -> None:
    page_cache.init_app(app)
    user_logged_in.connect(merge_session_basket, app)
    app.jinja_env.filters["sub_order_status"] = lambda status: STATUS_LABELS[status]

    @app.context_processor
    def basket_globals() -> dict[str, Any]:
        if not has_request_context():
            return {}  # a template rendered by a task (e-mails)
        if request.blueprint in (None, "static") or request.path.startswith("/api/"):
            return {}
        count = sum(session_quantities().values())
        if current_user.is_authenticated:
            count = sum(
                db.session.scalars(
                    select(BasketLine.quantity)
                    .join(Basket)
                    .where(Basket.user_id == current_user.id)
                )
            )
        return {
            "basket_count": count,
            "territory_name": territory_name(),
            "csrf_token": page_cache.csrf_token,
        }
