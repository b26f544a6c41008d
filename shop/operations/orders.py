"""The sub-order state machine: the one place where statuses change.

Statuses only move through the operations below, which check who acts and the
current state: the shop's staff run the queue (accept, refuse, prepare, ready, hand
over with the pickup code), the resident cancels a sub-order not yet accepted, the
system cancels the uncollected ones. Every change is recorded (SubOrderEvent: when,
who, from, to) and announced (marketplace.events).
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from marketplace import events
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, User, utcnow
from merchants.operations import staff_shop_ids

from ..models import SubOrder, SubOrderEvent, SubOrderStatus
from .errors import TransitionError

log = logging.getLogger(__name__)

S = SubOrderStatus
TRANSITIONS: dict[SubOrderStatus, set[SubOrderStatus]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.ACCEPTED, S.REFUSED, S.CANCELLED, S.REFUNDED},
    S.ACCEPTED: {S.PREPARING, S.READY, S.REFUSED, S.REFUNDED},
    S.PREPARING: {S.READY, S.REFUSED, S.REFUNDED},
    # Out for delivery straight from ready: the shop delivers itself.
    S.READY: {S.COLLECTED, S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY, S.CANCELLED, S.REFUNDED},
    S.REFUSED: {S.REFUNDED},
    S.CANCELLED: {S.REFUNDED},
    S.COLLECTED: {S.REFUNDED},
    S.REFUNDED: set(),
    S.HANDED_TO_COURIER: {S.OUT_FOR_DELIVERY, S.DELIVERY_FAILED},
    S.OUT_FOR_DELIVERY: {S.DELIVERED, S.DELIVERY_FAILED},
    S.DELIVERED: {S.REFUNDED},
    # A new attempt (the shop sets off again, the carrier presents the parcel again)
    # or a carrier's delivery after a failed attempt.
    S.DELIVERY_FAILED: {S.OUT_FOR_DELIVERY, S.DELIVERED, S.CANCELLED, S.REFUNDED},
}
# Where each staff action may start from.
ACCEPTABLE = {S.PAID}
REFUSABLE = {S.PAID, S.ACCEPTED, S.PREPARING}
PREPARABLE = {S.ACCEPTED}
READYABLE = {S.ACCEPTED, S.PREPARING}
HANDOVERABLE = {S.READY}
CANCELLABLE_BY_RESIDENT = {S.PAID}
# The shop's own deliveries (method merchant delivery).
SENDABLE = {S.READY, S.DELIVERY_FAILED}
DELIVERABLE = {S.OUT_FOR_DELIVERY}
DEFAULT_PICKUP_HOLD_DAYS = 7


class NotAllowed(PermissionError):
    """This actor may not act on this sub-order (views answer 404 or 403)."""


class WrongMethod(TransitionError):
    """The action belongs to another fulfilment method (the shop's delivery, a parcel)."""


class WrongPickupCode(ValueError):
    """The pickup code given at handover is not the sub-order's; nothing changed."""


def record(
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
            note=note[:300],
            at=utcnow(),
        )
    )


def transition(
    sub: SubOrder, new: SubOrderStatus, actor: User | None, actor_kind: str, note: str = ""
) -> None:
    """Move a sub-order to `new`, recorded with time and actor, then announced.

    Always sends `suborder_status_changed(sub, old=, new=)`; also `suborder_ready`
    on READY and `suborder_fulfilled` on COLLECTED. (`suborder_refunded` is sent by
    each refund, see refunds.py.)
    """
    old = sub.status
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"{old.value} → {new.value}")
    sub.status = new
    record(sub, old, new, actor, actor_kind, note)
    db.session.flush()
    events.suborder_status_changed.send(sub, old=old, new=new)
    if new is S.READY:
        events.suborder_ready.send(sub)
    elif new is S.COLLECTED:
        events.suborder_fulfilled.send(sub)


# --- who may act --------------------------------------------------------------------


def is_staff_of(sub: SubOrder, actor: User | None) -> bool:
    return actor is not None and sub.shop_id in staff_shop_ids(actor)


def _require_staff(sub: SubOrder, actor: User | None) -> User:
    if actor is None or not is_staff_of(sub, actor):
        raise NotAllowed("not staff of this shop")
    return actor


def _require_owner(sub: SubOrder, actor: User | None) -> User:
    if actor is None or sub.order.user_id != actor.id:
        raise NotAllowed("not the resident's order")
    return actor


def _locked(sub: SubOrder, allowed: set[SubOrderStatus]) -> None:
    """Re-read the sub-order under a row lock, then check its state.

    Two staff members pressing the same button: the second waits, then finds the
    new state and gets a TransitionError.
    """
    db.session.refresh(sub, attribute_names=["status"], with_for_update=True)
    if sub.status not in allowed:
        raise TransitionError(sub.status.value)


# --- the shop's actions -------------------------------------------------------------


def accept(sub: SubOrder, actor: User | None) -> None:
    staff = _require_staff(sub, actor)
    _locked(sub, ACCEPTABLE)
    transition(sub, S.ACCEPTED, staff, "shop")


def refuse(sub: SubOrder, actor: User | None, reason: str) -> None:
    """The shop cannot serve it: refused, then the resident is refunded at once.

    A failed refund leaves it refused with a failed Refund row (RefundFailed).
    """
    from .refunds import refund_remaining

    staff = _require_staff(sub, actor)
    reason = reason.strip()
    if not reason:
        raise ValueError("reason")
    _locked(sub, REFUSABLE)
    transition(sub, S.REFUSED, staff, "shop", reason)
    refund_remaining(sub, staff, "shop", reason)


def start_preparing(sub: SubOrder, actor: User | None) -> None:
    staff = _require_staff(sub, actor)
    _locked(sub, PREPARABLE)
    transition(sub, S.PREPARING, staff, "shop")


def mark_ready(sub: SubOrder, actor: User | None) -> None:
    staff = _require_staff(sub, actor)
    _locked(sub, READYABLE)
    transition(sub, S.READY, staff, "shop")


def check_pickup_code(sub: SubOrder, code: str) -> bool:
    given = "".join(ch for ch in code if not ch.isspace())
    return hmac.compare_digest(given.encode(), sub.pickup_code.encode())


def hand_over(sub: SubOrder, actor: User | None, code: str) -> None:
    """The resident collects: the shop checks the pickup code first."""
    staff = _require_staff(sub, actor)
    _locked(sub, HANDOVERABLE)
    if not check_pickup_code(sub, code):
        log.info("wrong pickup code for sub-order %s", sub.id)
        raise WrongPickupCode(sub.reference)
    transition(sub, S.COLLECTED, staff, "shop", "code de retrait vérifié")


# --- the shop's own deliveries -------------------------------------------------------


def _require_method(sub: SubOrder, method: FulfilmentMethod) -> None:
    if sub.fulfilment_method is not method:
        raise WrongMethod(sub.fulfilment_method.value)


def send_out(sub: SubOrder, actor: User | None) -> None:
    """The shop sets off to deliver (again, after a failed attempt); the resident
    is told it is on its way."""
    staff = _require_staff(sub, actor)
    _require_method(sub, FulfilmentMethod.MERCHANT_DELIVERY)
    _locked(sub, SENDABLE)
    transition(sub, S.OUT_FOR_DELIVERY, staff, "shop", "livraison par la boutique")


def mark_delivered(sub: SubOrder, actor: User | None) -> None:
    """Handed to the resident at their door: fulfilled, as a collection is."""
    staff = _require_staff(sub, actor)
    _require_method(sub, FulfilmentMethod.MERCHANT_DELIVERY)
    _locked(sub, DELIVERABLE)
    transition(sub, S.DELIVERED, staff, "shop", "livrée par la boutique")
    events.suborder_fulfilled.send(sub)


def report_delivery_failed(sub: SubOrder, actor: User | None, reason: str) -> None:
    """Not delivered: the reason goes to the resident; the parcel is back at the shop."""
    staff = _require_staff(sub, actor)
    _require_method(sub, FulfilmentMethod.MERCHANT_DELIVERY)
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("reason")
    _locked(sub, DELIVERABLE)
    transition(sub, S.DELIVERY_FAILED, staff, "shop", reason)


# --- the resident's and the system's ------------------------------------------------


def cancel_by_resident(sub: SubOrder, actor: User | None) -> None:
    """Cancel a sub-order the shop has not accepted yet; refunded at once."""
    from .refunds import refund_remaining

    resident = _require_owner(sub, actor)
    _locked(sub, CANCELLABLE_BY_RESIDENT)
    transition(sub, S.CANCELLED, resident, "resident", "annulée par le client")
    refund_remaining(sub, resident, "resident", "annulation par le client")


def pickup_hold() -> timedelta:
    return timedelta(days=int(current_app.config.get("PICKUP_HOLD_DAYS", DEFAULT_PICKUP_HOLD_DAYS)))


def cancel_uncollected(now: datetime) -> list[int]:
    """Cancel and refund the click-and-collect sub-orders ready for longer than the
    hold (PICKUP_HOLD_DAYS, default 7). Idempotent; returns the ids cancelled.

    A refund that fails leaves the sub-order cancelled with a failed Refund row;
    the next run retries it.
    """
    from .refunds import RefundFailed, refund_remaining, retry_failed_refunds

    cutoff = now - pickup_hold()
    ready_since = (
        select(func.max(SubOrderEvent.at))
        .where(SubOrderEvent.sub_order_id == SubOrder.id, SubOrderEvent.to_status == S.READY)
        .correlate(SubOrder)
        .scalar_subquery()
    )
    subs = db.session.scalars(
        select(SubOrder)
        .where(
            SubOrder.status == S.READY,
            SubOrder.fulfilment_method == FulfilmentMethod.CLICK_AND_COLLECT,
            ready_since <= cutoff,
        )
        .order_by(SubOrder.id)
        .with_for_update(skip_locked=True, of=SubOrder)
    ).all()
    days = pickup_hold().days
    cancelled = []
    for sub in subs:
        transition(sub, S.CANCELLED, None, "system", f"non retirée sous {days} jours")
        cancelled.append(sub.id)
        try:
            refund_remaining(sub, None, "system", "commande non retirée")
        except RefundFailed:
            log.warning("refund of uncollected sub-order %s failed; retried next run", sub.id)
    retry_failed_refunds()
    return cancelled
