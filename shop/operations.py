"""Basket, checkout, payment and sub-order state changes: every rule of the shop."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from delivery.operations import available_methods, earliest_ready
from marketplace import events, ledger
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, StripeEvent, User, utcnow
from marketplace.payments import gateway
from merchants.models import Product, ProductStatus, Shop, ShopStatus, Variant

from .models import (
    Basket,
    BasketLine,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    SubOrder,
    SubOrderEvent,
    SubOrderStatus,
)

log = logging.getLogger(__name__)
MAX_QUANTITY = 99


class CheckoutError(Exception):
    """Checkout refused; `problems` maps a form field to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = dict(problems)


# --- Basket -----------------------------------------------------------------


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
    if quantity > variant.stock:
        raise CheckoutError(
            {"quantity": f"Il ne reste que {variant.stock} exemplaire(s) de ce produit."}
        )
    line = next((ln for ln in basket.lines if ln.variant_id == variant_id), None)
    if quantity == 0:
        if line is not None:
            basket.lines.remove(line)
    elif line is None:
        basket.lines.append(BasketLine(variant_id=variant_id, quantity=quantity))
    else:
        line.quantity = quantity
    db.session.flush()


def merge_quantities(basket: Basket, extra: Mapping[int, int]) -> None:
    """Fold an anonymous basket into the user's after log-in, within stock."""
    current = basket_quantities(basket)
    variants = sellable_variants(list(extra))
    for variant_id, quantity in extra.items():
        variant = variants.get(variant_id)
        if variant is None:
            continue
        wanted = min(current.get(variant_id, 0) + quantity, variant.stock, MAX_QUANTITY)
        if wanted > 0:
            set_quantity(basket, variant_id, wanted)


# --- Checkout -----------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str


def _reserve_stock(variant_id: int, quantity: int) -> bool:
    """Take stock atomically: the row is only updated if enough remains."""
    result = db.session.execute(
        update(Variant)
        .where(Variant.id == variant_id, Variant.stock >= quantity)
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
    order = Order(
        public_id=uuid.uuid4(),
        checkout_key=checkout_key,
        user_id=user.id,
        territory_id=groups[0].shop.territory_id,
        contact_name=contact.name,
        contact_email=contact.email,
        contact_phone=contact.phone,
        total_cents=0,
    )
    for group in groups:
        order.sub_orders.append(_sub_order(group, choices[group.shop.id]))
    order.total_cents = sum(s.total_cents for s in order.sub_orders)
    _reserve_all(groups)
    db.session.add(order)
    db.session.flush()
    for sub in order.sub_orders:
        _record(sub, None, SubOrderStatus.PENDING_PAYMENT, user, "resident")
    basket.lines.clear()
    _create_payment(order)
    return order


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
    short = [i for i in items if not _reserve_stock(i.variant.id, i.quantity)]
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
        payment.status = PaymentStatus.FAILED
    return intent.status, intent.error


# --- Sub-order state machine ----------------------------------------------------

TRANSITIONS: dict[SubOrderStatus, set[SubOrderStatus]] = {
    SubOrderStatus.PENDING_PAYMENT: {SubOrderStatus.PAID, SubOrderStatus.CANCELLED},
    SubOrderStatus.PAID: {
        SubOrderStatus.ACCEPTED,
        SubOrderStatus.REFUSED,
        SubOrderStatus.CANCELLED,
    },
    SubOrderStatus.ACCEPTED: {SubOrderStatus.PREPARING, SubOrderStatus.READY},
    SubOrderStatus.PREPARING: {SubOrderStatus.READY},
    SubOrderStatus.READY: {SubOrderStatus.COLLECTED, SubOrderStatus.CANCELLED},
    SubOrderStatus.REFUSED: {SubOrderStatus.REFUNDED},
    SubOrderStatus.CANCELLED: {SubOrderStatus.REFUNDED},
    SubOrderStatus.COLLECTED: {SubOrderStatus.REFUNDED},
    SubOrderStatus.REFUNDED: set(),
}


class TransitionError(Exception):
    """A status change not allowed from the current state."""


def _record(
    sub: SubOrder,
    old: SubOrderStatus | None,
    new: SubOrderStatus,
    actor: User | None,
    actor_kind: str,
    note: str = "",
) -> None:
    sub.history.append(
        SubOrderEvent(
            from_status=old,
            to_status=new,
            actor_id=actor.id if actor else None,
            actor_kind=actor_kind,
            note=note,
            at=utcnow(),
        )
    )


def transition(
    sub: SubOrder, new: SubOrderStatus, actor: User | None, actor_kind: str, note: str = ""
) -> None:
    """Move a sub-order to `new`, recorded with time and actor, then announced."""
    old = sub.status
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"{old.value} → {new.value}")
    sub.status = new
    _record(sub, old, new, actor, actor_kind, note)
    db.session.flush()
    events.suborder_status_changed.send(sub, old=old, new=new)


# --- Payment confirmation (webhook) ---------------------------------------------


def handle_stripe_event(event: Mapping[str, object]) -> str:
    """Apply a verified webhook event once; returns what was done."""
    event_id = str(event["id"])
    event_type = str(event["type"])
    data = event.get("data")
    obj = data.get("object", {}) if isinstance(data, dict) else {}
    already = db.session.scalar(select(StripeEvent).where(StripeEvent.event_id == event_id))
    if already is not None:
        return "duplicate"
    record = StripeEvent(event_id=event_id, type=event_type, object_id=obj.get("id"))
    db.session.add(record)
    db.session.flush()
    handler = _HANDLERS.get(event_type)
    record.outcome = handler(obj) if handler else "ignored"
    return record.outcome


def _payment_for(intent_id: str | None) -> Payment | None:
    if not intent_id:
        return None
    return db.session.scalar(
        select(Payment)
        .where(Payment.intent_id == intent_id)
        .options(selectinload(Payment.order).selectinload(Order.sub_orders))
        .with_for_update()
    )


def _on_succeeded(obj: Mapping[str, object]) -> str:
    payment = _payment_for(str(obj.get("id")))
    if payment is None:
        log.warning("webhook for an unknown payment intent ignored")
        return "unknown-payment"
    if payment.status is PaymentStatus.SUCCEEDED:
        return "already-paid"
    if int(str(obj.get("amount", -1))) != payment.amount_cents:
        log.error("webhook amount differs from the payment: not applied")
        return "amount-mismatch"
    payment.status = PaymentStatus.SUCCEEDED
    payment.succeeded_at = utcnow()
    order = payment.order
    if order.status is not OrderStatus.PENDING_PAYMENT:
        # A late success for an order cancelled meanwhile: the refund path of
        # the marketplace issue picks it up; it never resurrects the order.
        log.warning("payment succeeded for an order no longer pending")
        return "late-payment"
    mark_paid(order, payment, payment.succeeded_at)
    return "paid"


def mark_paid(order: Order, payment: Payment, paid_at: datetime) -> None:
    """Order paid: sub-orders move to paid with their ready time, money is booked."""
    order.status = OrderStatus.PAID
    order.paid_at = paid_at
    for sub in order.sub_orders:
        sub.ready_not_before = earliest_ready(sub.shop, sub.fulfilment_method, paid_at)
        transition(sub, SubOrderStatus.PAID, None, "system", "paiement confirmé")
    _book_payment(order, payment)
    events.order_paid.send(order)


def _book_payment(order: Order, payment: Payment) -> None:
    due: dict[int, int] = defaultdict(int)
    for sub in order.sub_orders:
        due[sub.shop_id] += sub.total_cents
    ledger.post(
        "payment",
        f"payment:{payment.intent_id}",
        f"Paiement de la commande {order.public_id}",
        [(ledger.STRIPE_CLEARING, payment.amount_cents)]
        + [(ledger.shop_payable(shop_id), -amount) for shop_id, amount in due.items()],
    )


def _on_failed(obj: Mapping[str, object]) -> str:
    payment = _payment_for(str(obj.get("id")))
    if payment is None:
        return "unknown-payment"
    if payment.status is not PaymentStatus.SUCCEEDED:
        payment.status = PaymentStatus.FAILED
    return "payment-failed"


_HANDLERS = {
    "payment_intent.succeeded": _on_succeeded,
    "payment_intent.payment_failed": _on_failed,
}
