"""Territory home, shop and product pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, render_template, request, url_for

from delivery.operations import available_methods, earliest_ready
from marketplace.models import FulfilmentMethod, utcnow
from merchants.models import Shop
from merchants.operations import PARIS, is_open, next_open_moment

from ..operations import search as ops
from .common import METHOD_LABELS, PageText, bp, current_territory, page_territory
from .page_cache import BASE, SHOPS, cached_page, note_shop

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


def _page_number() -> int:
    raw = (request.args.get("page") or "1").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1


@bp.get("/")
@cached_page(BASE, SHOPS)
def home() -> str:
    """Shops first, grouped by commune, filtered by commune and trade, a page at a
    time; the map shows every shop matching the filters."""
    territory = current_territory()
    communes = ops.list_communes()
    trades = ops.list_trades()
    commune, trade, errors = ops.parse_shop_filters(
        request.args, [c for c, _ in communes], [t for t, _ in trades]
    )
    listing = ops.home_listing(
        commune, trade, communes=communes, trades=trades, page=_page_number()
    )
    by_commune: dict[int, list[Shop]] = {}
    for shop in listing.shops:
        by_commune.setdefault(shop.commune_id, []).append(shop)
    shop_communes = sorted(
        {s.commune for s in listing.shops}, key=lambda c: (-len(by_commune[c.id]), c.name)
    )
    shop_url = url_for("storefront.shop_page", slug="__slug__")
    map_points = [
        {
            "name": p.name,
            "url": shop_url.replace("__slug__", p.slug),
            "lat": p.latitude,
            "lng": p.longitude,
            "commune": p.commune,
        }
        for p in listing.points
    ]
    page_args = {k: v for k, v in (("commune", commune), ("metier", trade)) if v}
    return render_template(
        "shop/home.html",
        territory=territory,
        commune_names=ops.territory_commune_names(territory) if territory else [],
        listing=listing,
        commune=commune,
        trade=trade,
        errors=errors,
        shop_communes=shop_communes,
        by_commune=by_commune,
        map_points=map_points,
        map=map_config(),
        text=PageText(),
        page_args={k: v.slug for k, v in page_args.items()},
        **shop_status(listing.shops, utcnow()),
    )


def _ready_times(shop: Shop, now: datetime) -> list[tuple[FulfilmentMethod, datetime | None]]:
    """Each method the shop offers today, with the earliest moment it can be ready
    for an order paid now (None when the delivery domain cannot tell yet)."""
    # The delivery rules read the territory (`session.get`): from memory, not SQL,
    # while this reference keeps it in the session's (weak) identity map.
    territory = page_territory()
    times = []
    for method in available_methods(shop):
        try:
            ready = earliest_ready(shop, method, now)
        except NotImplementedError:
            ready = None
        times.append((method, ready))
    del territory
    return times


@bp.get("/boutiques/<slug>")
@cached_page(BASE, shop_of="slug")
def shop_page(slug: str) -> str:
    shop = ops.public_shop(slug)
    if shop is None:
        abort(404)
    note_shop(shop.id)
    catalogue = ops.shop_catalogue(shop, _page_number())
    now = utcnow()
    return render_template(
        "shop/shop.html",
        shop=shop,
        catalogue=catalogue,
        picks=catalogue.picks,
        product_count=catalogue.total,
        is_open=is_open(shop, now),
        next_opening=next_open_moment(shop, now),
        today=now.astimezone(PARIS).date(),
        ready_times=_ready_times(shop, now),
        method_labels=METHOD_LABELS,
        text=PageText(),
    )


@bp.get("/boutiques/<shop_slug>/<product_slug>")
@cached_page(BASE, shop_of="shop_slug")
def product_page(shop_slug: str, product_slug: str) -> str:
    product = ops.public_product(shop_slug, product_slug)
    if product is None:
        abort(404)
    note_shop(product.shop_id)
    shop = product.shop
    now = utcnow()
    return render_template(
        "shop/product.html",
        product=product,
        shop=shop,
        others=ops.other_products(product),
        product_stock=ops.product_stock_state(product),
        method_labels=METHOD_LABELS,
        text=PageText(),
        ready_times=_ready_times(shop, now),
        **shop_status([shop], now),
    )
