"""Payment confirmation from Stripe's signed webhooks, applied once per event."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from delivery.operations import earliest_ready
from marketplace import events, ledger
from marketplace.extensions import db
from marketplace.models import StripeEvent, utcnow

from ..models import Order, OrderStatus, Payment, PaymentStatus, SubOrderStatus
from .orders import transition
from .reservations import release_order

log = logging.getLogger(__name__)


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
        # A late success for an order cancelled meanwhile: never resurrected. The
        # money is booked, then every sub-order refunded in full (once: this
        # payment is now SUCCEEDED, so another event for it stops above).
        from .refunds import refund_late_payment

        log.warning("payment succeeded for an order no longer pending: refunded")
        _book_payment(order, payment)
        refund_late_payment(order)
        return "late-payment-refunded"
    mark_paid(order, payment, payment.succeeded_at)
    return "paid"


def mark_paid(order: Order, payment: Payment, paid_at: datetime) -> None:
    """Order paid: sub-orders move to paid with their ready time, money is booked."""
    order.status = OrderStatus.PAID
    order.paid_at = paid_at
    for sub in order.sub_orders:
        point = None
        if sub.delivery_latitude is not None and sub.delivery_longitude is not None:
            point = (sub.delivery_latitude, sub.delivery_longitude)
        sub.ready_not_before = earliest_ready(sub.shop, sub.fulfilment_method, paid_at, point)
        transition(sub, SubOrderStatus.PAID, None, "system", "paiement confirmé")
    _book_payment(order, payment)
    events.order_paid.send(order)


def _book_payment(order: Order, payment: Payment) -> None:
    """One balanced transaction: debit Stripe clearing with what the card paid and
    `wallet:held` with the credit the order used (the shops are paid in full); per
    sub-order credit the shop (total − commission TTC), the platform's commission
    (HT, rounded per line, delivery fees excluded) and the VAT on it. The delivery
    fee of an express or standard sub-order is the couriers' and carriers': it goes
    to `platform:delivery`, not to the shop (a shop's own delivery fee stays its)."""
    from .refunds import payment_entries

    entries = [
        (ledger.STRIPE_CLEARING, payment.amount_cents),
        (ledger.WALLET_HELD, order.wallet_cents),
    ]
    for sub in order.sub_orders:
        entries += payment_entries(sub)
    ledger.post(
        "payment",
        f"payment:{payment.intent_id}",
        f"Paiement de la commande {order.public_id}",
        entries,
    )


def _on_failed(obj: Mapping[str, object]) -> str:
    payment = _payment_for(str(obj.get("id")))
    if payment is None:
        return "unknown-payment"
    if payment.status is PaymentStatus.SUCCEEDED:
        return "already-paid"
    payment.status = PaymentStatus.FAILED
    # The card was refused: stock back at once, the lines back in the basket.
    release_order(payment.order, "paiement refusé", restore_basket=True)
    return "payment-failed"


def _on_account_updated(obj: Mapping[str, object]) -> str:
    """A shop's Stripe Connect account changed (onboarding finished, payouts on/off)."""
    from merchants.operations.connect import on_account_updated

    return on_account_updated(obj)


_HANDLERS = {
    "payment_intent.succeeded": _on_succeeded,
    "payment_intent.payment_failed": _on_failed,
    "account.updated": _on_account_updated,
}
