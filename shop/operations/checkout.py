"""Checkout: one order, one sub-order per shop, stock reserved, one PaymentIntent."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import select, update

from delivery.operations import (
    Availability,
    DeliveryOption,
    NotAvailable,
    availability,
    delivery_fee,
    delivery_options,
)
from marketplace import events
from marketplace.extensions import db
from marketplace.geo import GeoPoint, locate
from marketplace.models import Commune, FulfilmentMethod, Territory, User, utcnow
from marketplace.payments import gateway
from merchants.models import Variant

from ..models import (
    WALLET_PROVIDER,
    Basket,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    SubOrder,
    SubOrderStatus,
)
from . import wallet
from .basket import ShopGroup, basket_changes, basket_quantities, group_by_shop
from .errors import CheckoutError
from .orders import record
from .payments import mark_paid
from .reservations import release_order, reservation_deadline


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str


# A variant without a weight counts as this much in the standard parcel.
DEFAULT_ITEM_WEIGHT_GRAMS = 500
DELIVERIES = (
    FulfilmentMethod.EXPRESS,
    FulfilmentMethod.STANDARD,
    FulfilmentMethod.MERCHANT_DELIVERY,
)


def _(msgid: str, **values: object) -> str:
    """The resident's language in a request, the French text elsewhere."""
    if has_request_context():
        return str(gettext(msgid, **values))
    return msgid % values if values else msgid


@dataclass(frozen=True)
class DeliveryAddress:
    """Where the deliveries go: the text as given and its point (maybe approximate)."""

    street: str
    postcode: str
    commune: Commune
    point: GeoPoint

    @property
    def text(self) -> str:
        return f"{self.street}, {self.postcode} {self.commune.name}"[:300]


@dataclass(frozen=True)
class ShopChoice:
    """The resident's choice for one shop: a method and, for express, a slot start."""

    method: FulfilmentMethod | None
    slot: datetime | None = None


@dataclass
class ShopOffer:
    """What the checkout page shows for one shop: every method it offers."""

    group: ShopGroup
    weight_grams: int
    options: list[DeliveryOption] = field(default_factory=list)


def parcel_weight(group: ShopGroup) -> int:
    """The standard parcel's weight: each item's weight, 500 g when it has none."""
    return sum(
        (i.variant.weight_grams or DEFAULT_ITEM_WEIGHT_GRAMS) * i.quantity for i in group.items
    )


def delivery_address(
    territory_id: int, street: str, postcode: str, commune_id: int | str | None
) -> DeliveryAddress:
    """Check and locate an address of the territory; CheckoutError naming the field."""
    street = " ".join((street or "").split())
    postcode = (postcode or "").strip()
    problems = {}
    commune = None
    try:
        commune = db.session.get(Commune, int(commune_id or 0))
    except (TypeError, ValueError):
        commune = None
    if commune is None or commune.territory_id != territory_id:
        problems["commune"] = _("Choisissez une commune du territoire.")
        commune = None
    if len(street) < 3 or len(street) > 200:
        problems["street"] = _("Indiquez le numéro et la rue.")
    if not re.fullmatch(r"[0-9]{5}", postcode):
        problems["postcode"] = _("Code postal invalide (5 chiffres).")
    elif commune is not None and commune.postcodes and postcode not in commune.postcodes:
        problems["postcode"] = _(
            "Ce code postal n'est pas celui de %(commune)s.", commune=commune.name
        )
    if problems or commune is None:
        raise CheckoutError(problems)
    return DeliveryAddress(street, postcode, commune, locate(street, postcode, commune))


def shop_offers(
    groups: list[ShopGroup], address: DeliveryAddress | None, now: datetime | None = None
) -> list[ShopOffer]:
    """Every method each shop offers, with availability, fee and timing, for the page."""
    moment = now or utcnow()
    point = address.point if address is not None else None
    offers = []
    territories: dict[int, Territory | None] = {}
    for group in groups:
        tid = group.shop.territory_id
        if tid not in territories:
            territories[tid] = db.session.get(Territory, tid)
        weight = parcel_weight(group)
        options = delivery_options(group.shop, moment, point, weight, territories[tid])
        offers.append(ShopOffer(group, weight, options))
    return offers


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
    choices: Mapping[int, FulfilmentMethod | ShopChoice],
    contact: Contact,
    checkout_key: uuid.UUID,
    *,
    address: DeliveryAddress | None = None,
    now: datetime | None = None,
    use_wallet: bool = False,
) -> Order:
    """Turn the basket into one order with one sub-order per shop, stock reserved.

    `choices` gives per shop id a method (or a ShopChoice with the express slot);
    deliveries need `address`. Every rule is checked before anything is written:
    a refused checkout leaves nothing behind. The same checkout key returns the
    order already placed (double submission).

    `use_wallet`: the resident's wallet credit pays what it can (ignored without
    credit); the card pays the rest. When the credit pays everything there is no
    PaymentIntent and the order is paid at once.
    """
    existing = db.session.scalar(select(Order).where(Order.checkout_key == checkout_key))
    if existing is not None:
        if existing.user_id != user.id:
            raise CheckoutError({"checkout_key": "Formulaire de commande invalide."})
        return existing
    groups = group_by_shop(basket_quantities(basket))
    if not groups:
        raise CheckoutError({"basket": "Votre panier est vide."})
    moment = now or utcnow()
    plans = _check_choices(groups, _as_choices(choices), address, moment)
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
        wallet_cents=0,
        expires_at=reservation_deadline(utcnow()),
    )
    for group in groups:
        order.sub_orders.append(_sub_order(group, plans[group.shop.id], address))
    order.total_cents = sum(s.total_cents for s in order.sub_orders)
    _reserve_all(groups)
    db.session.add(order)
    db.session.flush()
    for sub in order.sub_orders:
        record(sub, None, SubOrderStatus.PENDING_PAYMENT, user, "resident")
    basket.lines.clear()
    if use_wallet:
        wallet.hold(order)
    if order.card_cents:
        _create_payment(order)
    events.order_placed.send(order)
    if not order.card_cents:
        _pay_with_wallet(order, moment)
    return order


def _as_choices(
    choices: Mapping[int, FulfilmentMethod | ShopChoice],
) -> dict[int, ShopChoice]:
    return {
        shop_id: c if isinstance(c, ShopChoice) else ShopChoice(c) for shop_id, c in choices.items()
    }


@dataclass(frozen=True)
class _Plan:
    """A checked choice: what the sub-order records."""

    method: FulfilmentMethod
    fee_cents: int
    answer: Availability
    slot_end: datetime | None = None
    slot_start: datetime | None = None


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


def _check_choices(
    groups: list[ShopGroup],
    choices: Mapping[int, ShopChoice],
    address: DeliveryAddress | None,
    moment: datetime,
) -> dict[int, _Plan]:
    """Each shop's method available for this address now, its fee and slot, or
    CheckoutError with the reason next to the shop's fieldset."""
    problems: dict[str, str] = {}
    plans: dict[int, _Plan] = {}
    point = address.point if address is not None else None
    territories: dict[int, Territory | None] = {}
    for group in groups:
        shop = group.shop
        key = f"fulfilment-{shop.id}"
        choice = choices.get(shop.id) or ShopChoice(None)
        method = choice.method
        if method is None or not shop.offers(method):
            problems[key] = _("Choisissez un mode de retrait proposé par %(shop)s.", shop=shop.name)
            continue
        if method in DELIVERIES and address is None:
            problems[key] = _("Indiquez une adresse de livraison.")
            problems.setdefault("address", _("Indiquez une adresse de livraison."))
            continue
        tid = shop.territory_id
        if tid not in territories:
            territories[tid] = db.session.get(Territory, tid)
        weight = parcel_weight(group)
        answer = availability(
            shop, method, moment, point, weight_grams=weight, territory=territories[tid]
        )
        if not answer.available:
            problems[key] = f"{shop.name} : {answer.reason}"
            continue
        try:
            fee = delivery_fee(method, shop, point, weight, territories[tid])
        except NotAvailable as exc:
            problems[key] = f"{shop.name} : {exc.reason}"
            continue
        plan = _Plan(method, fee, answer)
        if method is FulfilmentMethod.EXPRESS:
            slot = next((s for s in answer.slots if s.start == choice.slot), None)
            if slot is None:
                problems[f"slot-{shop.id}"] = (
                    _("Choisissez un créneau de livraison.")
                    if choice.slot is None
                    else _("Créneau plus disponible, choisissez-en un autre.")
                )
                continue
            plan = _Plan(method, fee, answer, slot.end, slot.start)
        plans[shop.id] = plan
    if problems:
        raise CheckoutError(problems)
    return plans


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


def _sub_order(group: ShopGroup, plan: _Plan, address: DeliveryAddress | None) -> SubOrder:
    sub = SubOrder(
        shop_id=group.shop.id,
        reference=_reference(),
        fulfilment_method=plan.method,
        items_cents=group.subtotal_cents,
        delivery_fee_cents=plan.fee_cents,
        pickup_code=f"{secrets.randbelow(10**6):06d}",
    )
    if plan.method in DELIVERIES and address is not None:
        sub.delivery_address = address.text
        sub.delivery_latitude = address.point.latitude
        sub.delivery_longitude = address.point.longitude
        sub.delivery_approximate = address.point.approximate
    if plan.method is FulfilmentMethod.EXPRESS:
        sub.delivery_slot_start, sub.delivery_slot_end = plan.slot_start, plan.slot_end
        sub.expected_from, sub.expected_until = plan.slot_start, plan.slot_end
    elif plan.method is FulfilmentMethod.STANDARD:
        sub.expected_from, sub.expected_until = plan.answer.earliest, plan.answer.latest
    else:
        sub.expected_from = plan.answer.earliest
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
    """The order's PaymentIntent, for what the card pays (the wallet paid the rest)."""
    intent = gateway().create_intent(
        order.card_cents,
        {"order": str(order.public_id)},
        key=f"order-{order.public_id}",
        transfer_group=f"order-{order.public_id}",
    )
    payment = Payment(
        order_id=order.id,
        intent_id=intent.id,
        client_secret=intent.client_secret,
        amount_cents=order.card_cents,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _pay_with_wallet(order: Order, moment: datetime) -> None:
    """The wallet paid everything: a payment without a PaymentIntent (see Payment),
    succeeded now, and the order paid in this transaction."""
    payment = Payment(
        order_id=order.id,
        provider=WALLET_PROVIDER,
        intent_id=f"wallet-{order.public_id}",
        client_secret="",
        amount_cents=0,
        status=PaymentStatus.SUCCEEDED,
        succeeded_at=moment,
    )
    db.session.add(payment)
    db.session.flush()
    mark_paid(order, payment, moment)


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
