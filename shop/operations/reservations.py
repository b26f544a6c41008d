"""Stock reserved at checkout and released when the payment never completes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import utcnow
from marketplace.payments import PaymentError, gateway
from merchants.models import Variant

from ..models import Order, OrderStatus, PaymentStatus, SubOrder, SubOrderStatus
from . import wallet
from .basket import set_quantity, user_basket
from .errors import CheckoutError
from .orders import transition

log = logging.getLogger(__name__)
DEFAULT_RESERVATION_MINUTES = 15


def reservation_deadline(now: datetime) -> datetime:
    minutes = current_app.config.get("RESERVATION_MINUTES", DEFAULT_RESERVATION_MINUTES)
    return now + timedelta(minutes=int(minutes))


def release_order(order: Order, note: str, restore_basket: bool = False) -> bool:
    """Cancel an unpaid order: stock back, PaymentIntent cancelled, sub-orders
    cancelled, wallet credit held for it given back (once).

    Returns False when the order was no longer pending (nothing to release).
    """
    if order.status is not OrderStatus.PENDING_PAYMENT:
        return False
    for payment in order.payments:
        if payment.status is PaymentStatus.REQUIRES_PAYMENT:
            payment.status = PaymentStatus.CANCELED
            _cancel_intent(payment.intent_id)
    for sub in order.sub_orders:
        for line in sub.lines:
            if line.variant_id is not None:
                _give_back(line.variant_id, line.quantity)
        transition(sub, SubOrderStatus.CANCELLED, None, "system", note)
    order.status = OrderStatus.CANCELLED
    wallet.release(order)
    db.session.flush()
    if restore_basket:
        _restore_basket(order)
    return True


def _give_back(variant_id: int, quantity: int) -> None:
    db.session.execute(
        update(Variant)
        .where(Variant.id == variant_id, Variant.made_to_order.is_(False))
        .values(stock=Variant.stock + quantity)
        .execution_options(synchronize_session=False)
    )


def _cancel_intent(intent_id: str) -> None:
    # Best effort: if Stripe still takes the payment later, the late-success
    # webhook refunds it instead of reviving the order.
    try:
        gateway().cancel_intent(intent_id)
    except PaymentError:
        log.warning("payment intent could not be cancelled; a late success is refunded")


def _restore_basket(order: Order) -> None:
    """Put the order's lines back in the resident's basket, within stock."""
    basket = user_basket(order.user)
    for sub in order.sub_orders:
        for line in sub.lines:
            if line.variant_id is None:
                continue
            try:
                set_quantity(basket, line.variant_id, line.quantity)
            except CheckoutError:
                log.info("a line of a released order is no longer available")


def release_expired(now: datetime | None = None) -> int:
    """Release every unpaid order whose reservation has expired; returns how many."""
    now = now or utcnow()
    orders = db.session.scalars(
        select(Order)
        .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at < now)
        .options(
            selectinload(Order.sub_orders).selectinload(SubOrder.lines),
            selectinload(Order.payments),
        )
        .order_by(Order.id)
        .with_for_update(skip_locked=True, of=Order)
    ).all()
    released = sum(release_order(o, "réservation expirée") for o in orders)
    return released
