"""Territory home and shop pages."""

from __future__ import annotations

from collections import defaultdict

from flask import (
    abort,
    render_template,
)
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from delivery.operations import available_methods
from marketplace.extensions import db
from marketplace.models import Commune, utcnow
from merchants.models import Product, ProductStatus, Shop, ShopStatus
from merchants.operations import is_open, next_open_moment

from ..forms import AddToBasketForm
from .common import METHOD_LABELS, bp, current_territory


@bp.get("/")
def home() -> str:
    """Shops first, grouped by commune."""
    territory = current_territory()
    shops = db.session.scalars(
        select(Shop)
        .where(Shop.status == ShopStatus.APPROVED)
        .options(
            joinedload(Shop.commune),
            joinedload(Shop.trade),
            selectinload(Shop.hours),
            selectinload(Shop.closures),
        )
        .order_by(Shop.name)
    ).all()
    by_commune: dict[Commune, list[Shop]] = defaultdict(list)
    for shop in shops:
        by_commune[shop.commune].append(shop)
    communes = sorted(by_commune, key=lambda c: (-len(by_commune[c]), c.name))
    now = utcnow()
    return render_template(
        "shop/home.html",
        territory=territory,
        communes=communes,
        by_commune=by_commune,
        open_now={s.id: is_open(s, now) for s in shops},
        next_opening={s.id: next_open_moment(s, now) for s in shops},
        method_labels=METHOD_LABELS,
    )


@bp.get("/boutiques/<slug>")
def shop_page(slug: str) -> str:
    shop = db.session.scalar(
        select(Shop)
        .where(Shop.slug == slug, Shop.status == ShopStatus.APPROVED)
        .options(
            joinedload(Shop.commune),
            joinedload(Shop.trade),
            selectinload(Shop.hours),
            selectinload(Shop.closures),
        )
    )
    if shop is None:
        abort(404)
    products = db.session.scalars(
        select(Product)
        .where(Product.shop_id == shop.id, Product.status == ProductStatus.PUBLISHED)
        .options(selectinload(Product.variants))
        .order_by(Product.category, Product.name)
    ).all()
    now = utcnow()
    return render_template(
        "shop/shop.html",
        shop=shop,
        products=products,
        is_open=is_open(shop, now),
        next_opening=next_open_moment(shop, now),
        methods=[METHOD_LABELS[m] for m in available_methods(shop)],
        form=AddToBasketForm(),
    )
