"""Territory home, shop and product pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, render_template, request, url_for

from delivery.operations import available_methods, earliest_ready
from marketplace.models import FulfilmentMethod, utcnow
from merchants.models import Shop
from merchants.operations import PARIS, is_open, next_open_moment

from ..forms import AddToBasketForm
from ..operations import search as ops
from .common import METHOD_LABELS, bp, current_territory

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
)


def shop_status(shops: list[Shop], now: datetime) -> dict[str, dict[int, Any]]:
    """Open now or next opening, per shop id, for the shop cards."""
    return {
        "open_now": {s.id: is_open(s, now) for s in shops},
        "next_opening": {s.id: next_open_moment(s, now) for s in shops},
    }


def map_config() -> dict[str, str]:
    return {
        "tile_url": current_app.config.get("MAP_TILE_URL", DEFAULT_TILE_URL),
        "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", DEFAULT_TILE_ATTRIBUTION),
    }


@bp.get("/")
def home() -> str:
    """Shops first, grouped by commune, filtered by commune and trade."""
    territory = current_territory()
    communes = ops.list_communes()
    trades = ops.list_trades()
    commune, trade, errors = ops.parse_shop_filters(
        request.args, [c for c, _ in communes], [t for t, _ in trades]
    )
    listing = ops.home_listing(commune, trade, communes=communes, trades=trades)
    by_commune: dict[int, list[Shop]] = {}
    for shop in listing.shops:
        by_commune.setdefault(shop.commune_id, []).append(shop)
    shop_communes = sorted(
        {s.commune for s in listing.shops}, key=lambda c: (-len(by_commune[c.id]), c.name)
    )
    map_points = [
        {
            "name": s.name,
            "url": url_for("storefront.shop_page", slug=s.slug),
            "lat": s.latitude,
            "lng": s.longitude,
            "commune": s.commune.name,
        }
        for s in listing.shops
    ]
    return render_template(
        "shop/home.html",
        territory=territory,
        listing=listing,
        commune=commune,
        trade=trade,
        errors=errors,
        shop_communes=shop_communes,
        by_commune=by_commune,
        map_points=map_points,
        map=map_config(),
        method_labels=METHOD_LABELS,
        **shop_status(listing.shops, utcnow()),
    )


def _ready_times(shop: Shop, now: datetime) -> list[tuple[FulfilmentMethod, datetime | None]]:
    """Each method the shop offers today, with the earliest moment it can be ready
    for an order paid now (None when the delivery domain cannot tell yet)."""
    times = []
    for method in available_methods(shop):
        try:
            ready = earliest_ready(shop, method, now)
        except NotImplementedError:
            ready = None
        times.append((method, ready))
    return times


@bp.get("/boutiques/<slug>")
def shop_page(slug: str) -> str:
    shop = ops.public_shop(slug)
    if shop is None:
        abort(404)
    catalogue = ops.shop_catalogue(shop)
    now = utcnow()
    return render_template(
        "shop/shop.html",
        shop=shop,
        catalogue=catalogue,
        picks=[p for _, products in catalogue for p in products if p.merchant_pick],
        product_count=sum(len(products) for _, products in catalogue),
        is_open=is_open(shop, now),
        next_opening=next_open_moment(shop, now),
        today=now.astimezone(PARIS).date(),
        ready_times=_ready_times(shop, now),
        method_labels=METHOD_LABELS,
        stock_labels=ops.STOCK_LABELS,
        stock_state=ops.stock_state,
        form=AddToBasketForm(),
    )


@bp.get("/boutiques/<shop_slug>/<product_slug>")
def product_page(shop_slug: str, product_slug: str) -> str:
    product = ops.public_product(shop_slug, product_slug)
    if product is None:
        abort(404)
    shop = product.shop
    now = utcnow()
    return render_template(
        "shop/product.html",
        product=product,
        shop=shop,
        others=ops.other_products(product),
        stock_state=ops.stock_state,
        product_stock=ops.product_stock_state(product),
        stock_labels=ops.STOCK_LABELS,
        method_labels=METHOD_LABELS,
        ready_times=_ready_times(shop, now),
        **shop_status([shop], now),
    )
