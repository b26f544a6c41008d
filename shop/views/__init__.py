"""Storefront pages (blueprint `storefront`) and the shop staff's order queue."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from flask_login import current_user, user_logged_in
from sqlalchemy import select

from marketplace.extensions import db

from ..models import Basket, BasketLine
from ..operations import max_quantity
from . import browse, orders, page_cache, search, slip  # noqa: F401 - they register routes on blueprints
from .basket import merge_session_basket, session_quantities
from .common import STATUS_LABELS, bp, page_territory
from .staff import staff_bp

__all__ = ["bp", "init_app", "staff_bp"]


def territory_name() -> str | None:
    """The territory's name for every page's header (see `page_territory`)."""
    territory = page_territory()
    return territory.name if territory else None


def init_app(app: Flask) -> None:
    page_cache.init_app(app)
    user_logged_in.connect(merge_session_basket, app)
    app.jinja_env.filters["sub_order_status"] = lambda status: STATUS_LABELS[status]
    app.jinja_env.filters["max_quantity"] = max_quantity

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
