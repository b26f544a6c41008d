"""The basket: lines grouped by shop, quantities bounded by stock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import User
from merchants.models import Product, ProductStatus, Shop, ShopStatus, Variant

from ..models import Basket, BasketLine
from .errors import CheckoutError

MAX_QUANTITY = 99


def available(variant: Variant) -> int:
    """How many a resident may order: the stock, or any number when made to order."""
    return MAX_QUANTITY if variant.made_to_order else variant.stock


def max_quantity(variant: Variant) -> int:
    """The most one basket line of this variant may hold now (0: it cannot be ordered)."""
    return max(0, min(available(variant), MAX_QUANTITY))


@dataclass
class BasketItem:
    variant: Variant
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.variant.price_cents * self.quantity


@dataclass
class ShopGroup:
    shop: Shop
    items: list[BasketItem] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(i.total_cents for i in self.items)


def sellable_variants(ids: list[int]) -> dict[int, Variant]:
    """Variants of published products of approved shops, with shop and product."""
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Variant)
        .join(Variant.product)
        .join(Product.shop)
        .where(
            Variant.id.in_(ids),
            Product.status == ProductStatus.PUBLISHED,
            Shop.status == ShopStatus.APPROVED,
        )
        .options(selectinload(Variant.product).selectinload(Product.shop).selectinload(Shop.hours))
    )
    return {v.id: v for v in rows}


def group_by_shop(quantities: Mapping[int, int]) -> list[ShopGroup]:
    """Basket lines grouped by shop; lines no longer for sale are dropped."""
    variants = sellable_variants(list(quantities))
    groups: dict[int, ShopGroup] = {}
    for variant_id, quantity in quantities.items():
        variant = variants.get(variant_id)
        if variant is None:
            continue
        shop = variant.product.shop
        groups.setdefault(shop.id, ShopGroup(shop)).items.append(BasketItem(variant, quantity))
    return sorted(groups.values(), key=lambda g: g.shop.name)


def user_basket(user: User) -> Basket:
    basket = db.session.scalar(
        select(Basket).where(Basket.user_id == user.id).options(selectinload(Basket.lines))
    )
    if basket is None:
        basket = Basket(user_id=user.id)
        db.session.add(basket)
        db.session.flush()
    return basket


def basket_quantities(basket: Basket) -> dict[int, int]:
    return {line.variant_id: line.quantity for line in basket.lines}


def set_quantity(basket: Basket, variant_id: int, quantity: int) -> None:
    """Set a line's quantity (0 removes it), bounded by stock."""
    variant = sellable_variants([variant_id]).get(variant_id)
    if variant is None:
        raise CheckoutError({"variant_id": "Ce produit n'est pas en vente."})
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise CheckoutError({"quantity": f"La quantité doit être entre 0 et {MAX_QUANTITY}."})
    if quantity > available(variant):
        raise CheckoutError(
            {"quantity": f"Il ne reste que {variant.stock} exemplaire(s) de ce produit."}
        )
    line = next((ln for ln in basket.lines if ln.variant_id == variant_id), None)
    if quantity == 0:
        if line is not None:
            basket.lines.remove(line)
    elif line is None:
        basket.lines.append(
            BasketLine(
                variant_id=variant_id, quantity=quantity, seen_price_cents=variant.price_cents
            )
        )
    else:
        line.quantity = quantity
        line.seen_price_cents = variant.price_cents
    db.session.flush()


def merge_quantities(basket: Basket, extra: Mapping[int, int]) -> None:
    """Fold an anonymous basket into the user's after log-in, within stock."""
    current = basket_quantities(basket)
    variants = sellable_variants(list(extra))
    for variant_id, quantity in extra.items():
        variant = variants.get(variant_id)
        if variant is None:
            continue
        wanted = min(current.get(variant_id, 0) + quantity, max_quantity(variant))
        if wanted > 0:
            set_quantity(basket, variant_id, wanted)


@dataclass(frozen=True)
class BasketChange:
    """Something that changed since the resident last saw the basket."""

    product_name: str
    old_price_cents: int | None
    new_price_cents: int | None  # None: no longer for sale
    available: int | None = None  # set when the stock no longer covers the line


def basket_changes(basket: Basket) -> list[BasketChange]:
    """Price rises or drops, withdrawn products and short stock since last seen."""
    variants = sellable_variants([line.variant_id for line in basket.lines])
    changes = []
    for line in basket.lines:
        variant = variants.get(line.variant_id)
        if variant is None:
            changes.append(BasketChange(line.variant.product.name, line.seen_price_cents, None))
            continue
        name = variant.product.name
        if line.seen_price_cents is not None and line.seen_price_cents != variant.price_cents:
            changes.append(BasketChange(name, line.seen_price_cents, variant.price_cents))
        if line.quantity > available(variant):
            changes.append(
                BasketChange(name, variant.price_cents, variant.price_cents, variant.stock)
            )
    return changes


def acknowledge_changes(basket: Basket) -> list[BasketChange]:
    """Show the changes once: record the current prices as seen, return what changed.

    Lines no longer for sale are removed; lines above the stock are lowered to it.
    """
    changes = basket_changes(basket)
    variants = sellable_variants([line.variant_id for line in basket.lines])
    for line in list(basket.lines):
        variant = variants.get(line.variant_id)
        if variant is None or available(variant) == 0:
            basket.lines.remove(line)
            continue
        line.seen_price_cents = variant.price_cents
        line.quantity = min(line.quantity, available(variant))
    db.session.flush()
    return changes
