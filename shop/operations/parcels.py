"""The shop side of standard parcels: the staff make the shipment of a ready
sub-order (carrier, tracking number, the parcel's weight from its variants), print
its label, then hand it to the carrier; the carrier's events move the sub-order.

    shipped (handed to the carrier)    → handed_to_courier, then out_for_delivery
    in_transit / out_for_delivery      → out_for_delivery (a new attempt after a failed one)
    delivered                          → delivered (and `suborder_fulfilled`)
    failed (an attempt) / returned     → delivery_failed, with the carrier's words

Delivery sits below the shop and never imports it: the shop subscribes here to
`shipment_status_changed` (`connect()` from `shop.init_app`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from delivery.models import Shipment, ShipmentStatus
from delivery.operations import shipments
from delivery.operations.config import translate as _
from marketplace import events
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, User
from merchants.models import Variant

from ..models import SubOrder, SubOrderStatus
from .checkout import DEFAULT_ITEM_WEIGHT_GRAMS
from .orders import TRANSITIONS, _locked, _require_method, _require_staff, transition

log = logging.getLogger(__name__)
S = SubOrderStatus
SS = ShipmentStatus
# Where the shop may make (or correct) the shipment, and hand it to the carrier:
# ready, or back at the shop after a failed delivery (a returned parcel is re-sent).
SHIPPABLE = {S.READY, S.DELIVERY_FAILED}
ON_THE_WAY = {SS.SHIPPED, SS.IN_TRANSIT, SS.OUT_FOR_DELIVERY}
NOT_DELIVERED = {SS.FAILED, SS.RETURNED}


def parcel_weight(sub: SubOrder) -> int:
    """Grams: each line's variant weight (500 g when it has none, or is gone)."""
    ids = [line.variant_id for line in sub.lines if line.variant_id is not None]
    rows = db.session.execute(select(Variant.id, Variant.weight_grams).where(Variant.id.in_(ids)))
    weights: dict[int, int | None] = {row.id: row.weight_grams for row in rows}
    return sum(
        (weights.get(line.variant_id or 0) or DEFAULT_ITEM_WEIGHT_GRAMS) * line.quantity
        for line in sub.lines
    )


def _lock_parcel(sub: SubOrder) -> Shipment | None:
    """Lock the parcel, then the sub-order (refused unless shippable): the order in
    which a carrier's event locks them, so the two never wait on each other."""
    shipment = shipments.shipment_for_sub_order(sub.id, lock=True)
    _locked(sub, SHIPPABLE)
    return shipment


def create_shipment(
    sub: SubOrder, actor: User | None, carrier: str, tracking_number: str
) -> Shipment:
    """The parcel of a ready standard sub-order; ShipmentError names a bad field."""
    staff = _require_staff(sub, actor)
    _require_method(sub, FulfilmentMethod.STANDARD)
    _lock_parcel(sub)
    return shipments.create_shipment(sub, carrier, tracking_number, parcel_weight(sub), staff)


def ship(sub: SubOrder, actor: User | None) -> Shipment:
    """Handed to the carrier: the resident is told, with the tracking link."""
    staff = _require_staff(sub, actor)
    _require_method(sub, FulfilmentMethod.STANDARD)
    shipment = _lock_parcel(sub)
    if shipment is None or shipment.status is not SS.LABEL_CREATED:
        raise shipments.ShipmentError(
            "shipment", _("Saisissez d'abord le transporteur et le numéro de suivi.")
        )
    shipments.mark_shipped(shipment, staff)
    note = f"{shipments.carrier_name(shipment.carrier)} {shipment.tracking_number}"
    if sub.status is S.READY:
        transition(sub, S.HANDED_TO_COURIER, staff, "shop", note)
    transition(sub, S.OUT_FOR_DELIVERY, staff, "shop", note)
    return shipment


def _move(sub: SubOrder, target: SubOrderStatus, note: str) -> None:
    """From wherever the sub-order is on its way, to `target` (carrier's doing)."""
    if sub.status is S.READY:  # the carrier scanned it before the shop said so
        transition(sub, S.HANDED_TO_COURIER, None, "carrier", note)
    if sub.status is S.HANDED_TO_COURIER and target is not S.DELIVERY_FAILED:
        transition(sub, S.OUT_FOR_DELIVERY, None, "carrier", note)
    if sub.status is not target and target in TRANSITIONS[sub.status]:
        transition(sub, target, None, "carrier", note)
        if target is S.DELIVERED:
            events.suborder_fulfilled.send(sub)


def on_shipment_status(shipment: Any, *, status: ShipmentStatus, note: str = "", **_: Any) -> None:
    sub = db.session.get(SubOrder, shipment.sub_order_id, with_for_update=True)
    if sub is None:
        log.warning("shipment %s: sub-order %s not found", shipment.id, shipment.sub_order_id)
        return
    on_the_way = (S.READY, S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY, S.DELIVERY_FAILED)
    if sub.status not in on_the_way:
        log.info("shipment %s: sub-order %s is %s", shipment.id, sub.id, sub.status.value)
        return
    label = shipments.carrier_name(shipment.carrier)
    if status in ON_THE_WAY:
        _move(sub, S.OUT_FOR_DELIVERY, label)
    elif status is SS.DELIVERED:
        _move(sub, S.DELIVERED, label)
    elif status in NOT_DELIVERED:
        if sub.status is S.DELIVERY_FAILED:
            return  # returned after a failed attempt: the resident was told
        note = note or ("retour à l'expéditeur" if status is SS.RETURNED else "")
        _move(sub, S.DELIVERY_FAILED, f"{label} : {note}" if note else label)


def connect() -> None:
    """Subscribe to the carriers' news (idempotent: blinker keeps one of each)."""
    shipments.shipment_status_changed.connect(on_shipment_status, weak=False)
