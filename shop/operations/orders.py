"""The sub-order state machine: the one place where statuses change."""

from __future__ import annotations

from marketplace import events
from marketplace.extensions import db
from marketplace.models import User, utcnow

from ..models import SubOrder, SubOrderEvent, SubOrderStatus
from .errors import TransitionError

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
    record(sub, old, new, actor, actor_kind, note)
    db.session.flush()
    events.suborder_status_changed.send(sub, old=old, new=new)
