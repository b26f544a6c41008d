"""What a resident sees of a delivery: the timeline of a sub-order's delivery states,
the code to give the courier, why a delivery failed, and a parcel's carrier tracking.
Used by the order page and the delivery mails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from delivery.models import DeliveryJob, JobStatus, Shipment, ShipmentStatus
from delivery.operations.jobs import job_for_sub_order
from delivery.operations.shipments import STATUS_LABELS as SHIPMENT_LABELS
from delivery.operations.shipments import (
    carrier_name,
    shipment_for_sub_order,
    shipments_by_sub_order,
    tracking_url,
)
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod

from ..models import Order, SubOrder, SubOrderEvent, SubOrderStatus

S = SubOrderStatus
TRACKED_STEPS = (S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY, S.DELIVERED)
# The shop delivering itself hands the parcel to nobody.
SHOP_DELIVERY_STEPS = (S.OUT_FOR_DELIVERY, S.DELIVERED)


def last_event(sub: SubOrder, status: SubOrderStatus) -> SubOrderEvent | None:
    """The latest transition of `sub` into `status`, if any."""
    return next((e for e in reversed(sub.history) if e.to_status is status), None)


def delivery_job(sub: SubOrder) -> DeliveryJob | None:
    """The courier job of an express sub-order (the latest), None for other methods."""
    if sub.fulfilment_method is not FulfilmentMethod.EXPRESS:
        return None
    return job_for_sub_order(sub.id)


def open_delivery_code(job: DeliveryJob | None) -> str:
    """The code to give the courier, while the job is still to be delivered."""
    if job is None or job.status in (JobStatus.DELIVERED, JobStatus.FAILED):
        return ""
    return str(job.delivery_code or "")


def failure_reason(sub: SubOrder, job: DeliveryJob | None = None) -> str:
    """Why the delivery failed: the courier's words (job), else the transition's note."""
    if job is not None and job.failure_reason:
        return str(job.failure_reason)
    entry = last_event(sub, S.DELIVERY_FAILED)
    return entry.note if entry is not None and entry.note else ""


def parcel_link(shipment: Shipment) -> dict[str, Any]:
    """A parcel's carrier, tracking number, carrier link and status."""
    return {
        "carrier": carrier_name(shipment.carrier),
        "number": shipment.tracking_number,
        "url": tracking_url(shipment),
        "status": shipment.status.value,
    }


def parcel_tracking(sub: SubOrder) -> dict[str, Any] | None:
    """A standard parcel's `parcel_link`; None for other methods or before shipping."""
    if sub.fulfilment_method is not FulfilmentMethod.STANDARD:
        return None
    shipment = shipment_for_sub_order(sub.id)
    return parcel_link(shipment) if shipment is not None else None


def _parcel_page(shipment: Shipment) -> dict[str, Any]:
    """`parcel_link` with the status in words and the parcel's events, newest first."""
    return {
        **parcel_link(shipment),
        "status": SHIPMENT_LABELS[shipment.status],
        "returned": shipment.status is ShipmentStatus.RETURNED,
        "attempt_failed": shipment.status is ShipmentStatus.FAILED,
        "events": [
            (e.occurred_at, SHIPMENT_LABELS[e.status], e.description, e.location)
            for e in reversed(shipment.events)
        ],
    }


def delivery_tracking(order: Order) -> dict[int, dict[str, Any]]:
    """Per delivered sub-order id: its timeline of delivery states (status, when
    or None while to come, label), the code to give the courier while the job is
    open, the failure reason and the parcel. A fixed number of queries whatever the
    number of sub-orders: the histories, the jobs (the latest per sub-order counts)
    and the parcels."""
    subs = [
        s
        for s in order.sub_orders
        if s.fulfilment_method is not FulfilmentMethod.CLICK_AND_COLLECT
        and s.status is not S.PENDING_PAYMENT
    ]
    if not subs:
        return {}
    # Loads each sub-order's history in one query (the page shows it too).
    db.session.scalars(
        select(SubOrder)
        .where(SubOrder.id.in_([s.id for s in subs]))
        .options(selectinload(SubOrder.history))
    ).all()
    latest: dict[int, DeliveryJob] = {}
    express = [s.id for s in subs if s.fulfilment_method is FulfilmentMethod.EXPRESS]
    if express:
        for found in db.session.scalars(
            select(DeliveryJob)
            .where(DeliveryJob.sub_order_id.in_(express))
            .order_by(DeliveryJob.id)
        ):
            latest[found.sub_order_id] = found
    parcels = shipments_by_sub_order(
        [s.id for s in subs if s.fulfilment_method is FulfilmentMethod.STANDARD]
    )
    return {sub.id: _tracking(sub, latest.get(sub.id), parcels.get(sub.id)) for sub in subs}


def _tracking(sub: SubOrder, job: DeliveryJob | None, shipment: Shipment | None) -> dict[str, Any]:
    reached: dict[SubOrderStatus, datetime] = {e.to_status: e.at for e in sub.history}
    failed = sub.status is S.DELIVERY_FAILED
    by_shop = sub.fulfilment_method is FulfilmentMethod.MERCHANT_DELIVERY
    steps = list(SHOP_DELIVERY_STEPS if by_shop else TRACKED_STEPS)
    if failed:
        steps[-1] = S.DELIVERY_FAILED
    labels = {}
    if sub.fulfilment_method is FulfilmentMethod.STANDARD:
        labels[S.HANDED_TO_COURIER] = SHIPMENT_LABELS[ShipmentStatus.SHIPPED]
    return {
        "steps": [(step, reached.get(step), labels.get(step)) for step in steps],
        "code": open_delivery_code(job),
        "reason": failure_reason(sub, job) if failed else "",
        "by_shop": by_shop,
        "parcel": _parcel_page(shipment) if shipment is not None else None,
    }
