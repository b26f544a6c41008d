"""Territory home, shop and product pages."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app, get_template_attribute, render_template, request, url_for
from markupsafe import Markup

from delivery.operations import available_methods, earliest_ready
from marketplace.models import FulfilmentMethod, utcnow
from merchants.models import Shop
from merchants.operations import PARIS, is_open, next_open_moment

from ..operations import search as ops
from .common import METHOD_LABELS, PageText, bp, current_territory, page_territory
from .page_cache import BASE, SHOPS, cached_fragment, cached_page, note_shop, shop_scope

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
@cached_page(BASE, SHOPS, query=ops.SHOP_FILTER_ARGS)
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
@cached_page(BASE, shop_of="slug", query=("page",))
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


# Its name carries the cached JSON's shape: a release that changes it changes the name,
# so workers of two releases never read each other's panels.
PANEL_FRAGMENT = "product-panel-2"


@dataclass(frozen=True)
class ShopPanel:
    """What a product page shows of its shop, as HTML: advice and fulfilment times,
    the shop's card, and cards of its first products (id, card)."""

    section: Markup
    aside: Markup
    products: tuple[tuple[int, Markup], ...]

    def others(self, product_id: int) -> list[Markup]:
        return [card for id_, card in self.products if id_ != product_id][: ops.OTHER_PRODUCTS]


def _render_panel(ref: ops.ShopRef) -> str:
    shop = ops.public_shop(ref.slug)
    if shop is None:
        abort(404)  # refused or withdrawn since its product was read
    now, text = utcnow(), PageText()
    status = shop_status([shop], now)

    def macro(name: str) -> Any:
        return get_template_attribute("shop/_product_panel.html", name)

    open_now, next_opening = status["open_now"][shop.id], status["next_opening"][shop.id]
    return json.dumps(
        {
            "section": str(macro("shop_section")(shop, _ready_times(shop, now), METHOD_LABELS)),
            "aside": str(macro("shop_aside")(shop, open_now, next_opening, text)),
            "products": [[p.id, str(macro("card")(p, text))] for p in ops.other_products(shop.id)],
        }
    )


def shop_panel(shop: ops.ShopRef) -> ShopPanel:
    """The shop's panel, rendered once per shop (and language) for every one of its
    product pages: a long-tail product page, never requested before, then costs one
    query for the product and the render of its own part."""
    return _panel_from(
        cached_fragment(PANEL_FRAGMENT, (BASE, shop_scope(shop.id)), lambda: _render_panel(shop))
    )


@functools.lru_cache(maxsize=512)
def _panel_from(data: str) -> ShopPanel:
    """The panel out of its cached JSON, decoded once per process: the store hands
    back the same string while it keeps the panel."""
    parsed = json.loads(data)
    return ShopPanel(
        section=_rendered(parsed["section"]),
        aside=_rendered(parsed["aside"]),
        products=tuple((id_, _rendered(card)) for id_, card in parsed["products"]),
    )


def _rendered(html: str) -> Markup:
    """HTML our own templates escaped when they rendered it (and the cache kept)."""
    return Markup(html)  # noqa: S704 - escaped by the template that produced it


@bp.get("/boutiques/<shop_slug>/<product_slug>")
@cached_page(BASE, shop_of="shop_slug")
def product_page(shop_slug: str, product_slug: str) -> str:
    product = ops.product_view(shop_slug, product_slug)
    if product is None:
        abort(404)
    note_shop(product.shop_id)
    panel = shop_panel(product.shop)
    return render_template(
        "shop/product.html",
        product=product,
        shop=product.shop,
        panel=panel,
        others=panel.others(product.id),
        product_stock=ops.product_stock_state(product),
        text=PageText(),
    )
