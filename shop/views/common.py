"""The storefront blueprint and what its pages share."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, current_app, request, url_for
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, select
from sqlalchemy.orm import make_transient_to_detached

from marketplace.extensions import db
from marketplace.i18n import local_time
from marketplace.models import FulfilmentMethod, Territory
from merchants.models import Trade

from ..models import SubOrderStatus
from ..operations.search import (
    STOCK_LABELS,
    StockState,
    product_stock_state,
    variant_stock_state,
)
from . import page_cache

bp = Blueprint(
    "storefront",
    "shop",  # templates and static files live in the shop package
    template_folder="templates",
    static_folder="static",
    static_url_path="/shop-static",
)

METHOD_LABELS = {
    FulfilmentMethod.CLICK_AND_COLLECT: _l("Retrait en boutique"),
    FulfilmentMethod.EXPRESS: _l("Livraison express"),
    FulfilmentMethod.STANDARD: _l("Livraison standard"),
    FulfilmentMethod.MERCHANT_DELIVERY: _l("Livraison par la boutique"),
}
STATUS_LABELS = {
    SubOrderStatus.PENDING_PAYMENT: _l("En attente de paiement"),
    SubOrderStatus.PAID: _l("Payée"),
    SubOrderStatus.ACCEPTED: _l("Acceptée"),
    SubOrderStatus.PREPARING: _l("En préparation"),
    SubOrderStatus.READY: _l("Prête à retirer"),
    SubOrderStatus.COLLECTED: _l("Retirée"),
    SubOrderStatus.REFUSED: _l("Refusée"),
    SubOrderStatus.CANCELLED: _l("Annulée"),
    SubOrderStatus.REFUNDED: _l("Remboursée"),
    SubOrderStatus.HANDED_TO_COURIER: _l("Remise au livreur"),
    SubOrderStatus.OUT_FOR_DELIVERY: _l("En cours de livraison"),
    SubOrderStatus.DELIVERED: _l("Livrée"),
    SubOrderStatus.DELIVERY_FAILED: _l("Échec de la livraison"),
}


def current_territory() -> Territory | None:
    return db.session.scalar(select(Territory).order_by(Territory.id).limit(1))


TERRITORY_NAME_SECONDS = 60


def page_territory() -> Territory | None:
    """The territory every page shows, read from the database once a minute at most
    (and again as soon as the pages' base version moves, which any change to it
    does) while the page cache is on, and put into the request's session without
    SQL: the header's name and the delivery rules (`session.get`) then find it."""
    pages = page_cache.store() if current_app.config.get("PAGE_CACHE_SECONDS") else None
    versions = pages.versions([page_cache.BASE]) if pages is not None else None
    if pages is None or versions is None:
        return current_territory()
    version = versions[0]
    cached = pages.memo.get("territory")  # (base version, expiry, detached copy)
    if cached is not None and cached[0] == version and cached[1] > time.monotonic():
        copy = cached[2]
        return db.session.merge(copy, load=False) if copy is not None else None
    territory = current_territory()
    copy = None
    if territory is not None:  # a private copy, never attached to a session
        columns = inspect(Territory).column_attrs
        copy = Territory(**{c.key: getattr(territory, c.key) for c in columns})
        make_transient_to_detached(copy)
    pages.memo["territory"] = (version, time.monotonic() + TERRITORY_NAME_SECONDS, copy)
    return territory


class PageText:
    """What every card and basket form of a page repeats, resolved once per render.

    A lazy label, a `gettext`, a `url_for` or a `csrf_token()` costs tens of
    microseconds each; a catalogue page shows a hundred forms and cards, so the
    templates take these from here instead of calling them per item.
    """

    # Set from `_shared()`, once per language:
    add_url: str
    quantity: str
    add: str
    pick: str
    stock: dict[StockState, str]
    methods: dict[FulfilmentMethod, str]
    open_now: str
    closed: str
    _shop_url: str
    _product_url: str
    _vat: dict[int, str]

    def __init__(self) -> None:
        from .page_cache import csrf_token

        self.locale = str(get_locale())
        # The labels and URL patterns are the same on every page of one language:
        # resolved once per app, language and mount point, then shared.
        resolved = current_app.extensions.setdefault("page_text", {})
        key = (self.locale, request.script_root)
        shared = resolved.get(key)
        if shared is None:
            shared = resolved[key] = self._shared()
        self.__dict__.update(shared)
        self.csrf = csrf_token()
        self.next_path = request.path
        self._opens: dict[tuple[datetime, str], str] = {}

    @staticmethod
    def _shared() -> dict[str, Any]:
        return {
            "add_url": url_for("storefront.update_basket"),
            "quantity": gettext("Quantité"),
            "add": gettext("Ajouter au panier"),
            "pick": gettext("Coup de cœur"),
            "stock": {state: str(label) for state, label in STOCK_LABELS.items()},
            "methods": {method: str(label) for method, label in METHOD_LABELS.items()},
            "_shop_url": url_for("storefront.shop_page", slug=_SLUG),
            "_product_url": url_for(
                "storefront.product_page", shop_slug=_SLUG, product_slug=_PRODUCT_SLUG
            ),
            "_vat": {},  # rate -> text, filled as pages need them (the same for all)
            "open_now": gettext("Ouvert maintenant"),
            "closed": gettext("Fermé"),
        }

    def variant_stock(self, variant: Any) -> tuple[StockState, str]:
        state = variant_stock_state(variant)
        return state, self.stock[state]

    def product_stock(self, product: Any) -> tuple[StockState, str]:
        state = product_stock_state(product)
        return state, self.stock[state]

    def vat(self, rate_bp: int) -> str:
        """ "TTC, TVA 5,5 %" (5.5 in English) for a rate in basis points."""
        text = self._vat.get(rate_bp)
        if text is None:
            rate = f"{rate_bp / 100:g}"
            if self.locale != "en":
                rate = rate.replace(".", ",")
            text = self._vat[rate_bp] = gettext("TTC, TVA %(rate)s %%", rate=rate)
        return text

    def trade_name(self, trade: Trade) -> str:
        return trade.name_en if self.locale == "en" else trade.name_fr

    def opening(self, open_now: bool, next_opening: datetime | None, fmt: str) -> str:
        """ "Ouvert maintenant", "Ouvre lundi 09:00" or "Fermé" (shops share
        their next opening moments: each is formatted once)."""
        if open_now:
            return self.open_now
        if next_opening is None:
            return self.closed
        key = (next_opening, fmt)
        text = self._opens.get(key)
        if text is None:
            text = self._opens[key] = gettext("Ouvre %(when)s", when=local_time(next_opening, fmt))
        return text

    def shop_url(self, slug: str) -> str:
        return self._shop_url.replace(_SLUG, quote(slug))

    def product_url(self, shop_slug: str, product_slug: str) -> str:
        return self._product_url.replace(_SLUG, quote(shop_slug)).replace(
            _PRODUCT_SLUG, quote(product_slug)
        )


_SLUG = "__shop_slug__"
_PRODUCT_SLUG = "__product_slug__"
