"""Checkout: one order, one sub-order per shop, stock reserved, one PaymentIntent."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update

from delivery.operations import available_methods
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, User, utcnow
from marketplace.payments import gateway
from merchants.models import Variant

from ..models import (
    Basket,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    SubOrder,
    SubOrderStatus,
)
from .basket import ShopGroup, basket_changes, basket_quantities, group_by_shop
from .errors import CheckoutError
from .orders import record
from .reservations import release_order, reservation_deadline


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str


def _reserve_stock(variant_id: int, quantity: int) -> bool:
    """Take stock atomically: the row is only updated if enough remains.

    Made-to-order variants have no stock to take.
    """
    result = db.session.execute(
        update(Variant)
        .where(
            Variant.id == variant_id, Variant.made_to_order.is_(False), Variant.stock >= quantity
        )
        .values(stock=Variant.stock - quantity)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _reference() -> str:
    return "C" + secrets.token_hex(4).upper()


def place_order(
    user: User,
    basket: Basket,
    choices: Mapping[int, FulfilmentMethod],
    contact: Contact,
    checkout_key: uuid.UUID,
) -> Order:
    """Turn the basket into one order with one sub-order per shop, stock reserved.

    The same checkout key returns the order already placed (double submission).
    """
    existing = db.session.scalar(select(Order).where(Order.checkout_key == checkout_key))
    if existing is not None:
        if existing.user_id != user.id:
            raise CheckoutError({"checkout_key": "Formulaire de commande invalide."})
        return existing
    groups = group_by_shop(basket_quantities(basket))
    if not groups:
        raise CheckoutError({"basket": "Votre panier est vide."})
    _check_choices(groups, choices)
    _check_unchanged(basket)
    order = Order(
        public_id=uuid.uuid4(),
        checkout_key=checkout_key,
        user_id=user.id,
        territory_id=groups[0].shop.territory_id,
        contact_name=contact.name,
        contact_email=contact.email,
        contact_phone=contact.phone,
        total_cents=0,
        expires_at=reservation_deadline(utcnow()),
    )
    for group in groups:
        order.sub_orders.append(_sub_order(group, choices[group.shop.id]))
    order.total_cents = sum(s.total_cents for s in order.sub_orders)
    _reserve_all(groups)
    db.session.add(order)
    db.session.flush()
    for sub in order.sub_orders:
        record(sub, None, SubOrderStatus.PENDING_PAYMENT, user, "resident")
    basket.lines.clear()
    _create_payment(order)
    return order


def _check_unchanged(basket: Basket) -> None:
    """Never apply a price or stock change silently: refuse, the page shows it."""
    changes = basket_changes(basket)
    if changes:
        names = ", ".join(sorted({c.product_name for c in changes}))
        raise CheckoutError(
            {
                "basket": f"Votre panier a changé depuis votre dernière visite ({names}) : "
                "vérifiez-le avant de payer."
            }
        )


def _check_choices(groups: list[ShopGroup], choices: Mapping[int, FulfilmentMethod]) -> None:
    problems = {}
    for group in groups:
        method = choices.get(group.shop.id)
        if method not in available_methods(group.shop):
            problems[f"fulfilment-{group.shop.id}"] = (
                f"Choisissez un mode de retrait proposé par {group.shop.name}."
            )
    if problems:
        raise CheckoutError(problems)


def _reserve_all(groups: list[ShopGroup]) -> None:
    # Always in variant-id order so concurrent checkouts never deadlock.
    items = sorted((i for g in groups for i in g.items), key=lambda i: i.variant.id)
    short = [
        i
        for i in items
        if not i.variant.made_to_order and not _reserve_stock(i.variant.id, i.quantity)
    ]
    if short:
        names = ", ".join(i.variant.product.name for i in short)
        raise CheckoutError({"basket": f"Stock insuffisant pour : {names}. Ajustez votre panier."})


def _sub_order(group: ShopGroup, method: FulfilmentMethod) -> SubOrder:
    sub = SubOrder(
        shop_id=group.shop.id,
        reference=_reference(),
        fulfilment_method=method,
        items_cents=group.subtotal_cents,
        delivery_fee_cents=0,
        pickup_code=f"{secrets.randbelow(10**6):06d}",
    )
    for item in group.items:
        product = item.variant.product
        sub.lines.append(
            OrderLine(
                variant_id=item.variant.id,
                product_name=product.name,
                variant_label=item.variant.label,
                sku=item.variant.sku,
                unit_price_cents=item.variant.price_cents,
                vat_rate_bp=product.vat_rate_bp,
                quantity=item.quantity,
            )
        )
    return sub


def _create_payment(order: Order) -> Payment:
    intent = gateway().create_intent(
        order.total_cents,
        {"order": str(order.public_id)},
        key=f"order-{order.public_id}",
    )
    payment = Payment(
        order_id=order.id,
        intent_id=intent.id,
        client_secret=intent.client_secret,
        amount_cents=order.total_cents,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def confirm_card(order: Order, payment_method_id: str) -> tuple[str, str | None]:
    """Confirm the order's PaymentIntent with the card the browser tokenised.

    Returns the intent status and the message to show when the card failed. The
    order becomes paid only when the signed webhook says so.
    """
    payment = order.payments[-1]
    if order.status is not OrderStatus.PENDING_PAYMENT:
        return "succeeded" if order.status is OrderStatus.PAID else "canceled", None
    intent = gateway().confirm_with(payment.intent_id, payment_method_id)
    if intent.status == "requires_payment_method":
        # A refused card releases the stock at once; the basket is kept.
        payment.status = PaymentStatus.FAILED
        release_order(order, "paiement refusé", restore_basket=True)
    return intent.status, intent.error
