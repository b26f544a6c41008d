"""Delivery zones: where express delivery goes, per territory.

A zone is either a set of communes (the union of their outlines) or a polygon drawn
elsewhere and imported as GeoJSON; the polygon wins when both are set. Fee and
timing settings are not here: they live in `Territory.settings["delivery"]`, with
their defaults in `delivery.operations.config`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import Territory, TimestampMixin, User, UTCDateTime, _enum, utcnow
from merchants.models import Shop


class ZoneKind(enum.StrEnum):
    EXPRESS = "express"


class DeliveryZone(TimestampMixin, Base):
    __tablename__ = "delivery_zone"
    __table_args__ = (UniqueConstraint("territory_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ZoneKind] = mapped_column(_enum(ZoneKind, "zone_kind"), default=ZoneKind.EXPRESS)
    # INSEE codes of the communes whose outlines make the zone.
    communes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A drawn zone (GeoJSON Polygon or MultiPolygon geometry); overrides `communes`.
    polygon: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Bumped on every change: the key of the in-process geometry cache.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    territory: Mapped[Territory] = relationship()


# --- couriers and their jobs ---------------------------------------------------------


class Vehicle(enum.StrEnum):
    FOOT = "foot"
    BIKE = "bike"
    CARGO_BIKE = "cargo_bike"
    VAN = "van"


class CourierStatus(enum.StrEnum):
    PENDING = "pending"  # signed up, waiting for the collectivité
    APPROVED = "approved"
    REFUSED = "refused"


class Courier(TimestampMixin, Base):
    """A user's courier account: approved by collectivité staff before any job."""

    __tablename__ = "courier"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    vehicle: Mapped[Vehicle] = mapped_column(_enum(Vehicle, "courier_vehicle"))
    capacity_kg: Mapped[int] = mapped_column(Integer)
    phone: Mapped[str] = mapped_column(String(30))
    status: Mapped[CourierStatus] = mapped_column(
        _enum(CourierStatus, "courier_status"), default=CourierStatus.PENDING, index=True
    )
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last position the courier gave (form or the browser's geolocation).
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    territory: Mapped[Territory] = relationship()


class JobStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryJob(TimestampMixin, Base):
    """Carrying one express sub-order from its shop to the resident.

    The sub-order belongs to the shop domain (above this one): named by table only,
    its fields copied from the `suborder_ready` sender when the job is made.
    """

    __tablename__ = "delivery_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_order.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str] = mapped_column(String(20))
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    shop_latitude: Mapped[float] = mapped_column(Float)
    shop_longitude: Mapped[float] = mapped_column(Float)
    drop_address: Mapped[str] = mapped_column(String(300), default="")
    drop_latitude: Mapped[float] = mapped_column(Float)
    drop_longitude: Mapped[float] = mapped_column(Float)
    slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slot_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "delivery_job_status"), default=JobStatus.OPEN, index=True
    )
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("courier.id"), index=True)
    # The shop checks the courier has the sub-order's pickup code; the resident
    # gives the courier the delivery code as proof.
    pickup_code: Mapped[str] = mapped_column(String(8))
    delivery_code: Mapped[str] = mapped_column(String(8))
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    # Dispatch: how far the offers went, when last, and whether staff must step in.
    offer_round: Mapped[int] = mapped_column(Integer, default=0)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    courier: Mapped[Courier | None] = relationship()
    shop: Mapped[Shop] = relationship()
    events: Mapped[list[JobEvent]] = relationship(
        cascade="all, delete-orphan", order_by="JobEvent.id", back_populates="job"
    )


class JobEventKind(enum.StrEnum):
    CREATED = "created"
    OFFERED = "offered"
    ESCALATED = "escalated"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"  # by collectivité staff
    RELEASED = "released"  # taken back from a courier by staff
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    FAILED = "failed"


class JobEvent(Base):
    """What happened to a job, when and to whom: offers included."""

    __tablename__ = "delivery_job_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("delivery_job.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[JobEventKind] = mapped_column(_enum(JobEventKind, "delivery_job_event_kind"))
    courier_id: Mapped[int | None] = mapped_column(
        ForeignKey("courier.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    distance_km: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    job: Mapped[DeliveryJob] = relationship(back_populates="events")


# --- rounds: jobs of one slot carried together ------------------------------------------


class RoundStatus(enum.StrEnum):
    PLANNED = "planned"  # no courier yet
    ASSIGNED = "assigned"  # a courier holds every job, none picked up yet
    IN_PROGRESS = "in_progress"  # at least one parcel picked up
    DONE = "done"  # every job delivered or failed


class Round(TimestampMixin, Base):
    """Jobs of the same slot given to one courier, their stops in an optimised order.

    The courier collects the parcels at their shops first, then drops them: the
    distances (metres, geodesic, no return) cover both legs, in the optimised order
    and in the order the jobs were made, for the figure shown to staff.
    """

    __tablename__ = "delivery_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime())
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("courier.id"), index=True)
    status: Mapped[RoundStatus] = mapped_column(
        _enum(RoundStatus, "delivery_round_status"), default=RoundStatus.PLANNED, index=True
    )
    optimised_m: Mapped[int] = mapped_column(Integer, default=0)
    creation_order_m: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    courier: Mapped[Courier | None] = relationship()
    stops: Mapped[list[RoundStop]] = relationship(
        cascade="all, delete-orphan", order_by="RoundStop.position", back_populates="round"
    )

    @property
    def saved_m(self) -> int:
        return max(0, self.creation_order_m - self.optimised_m)


class RoundStop(Base):
    """One job of a round: where it comes in the drops (`position`, from 1) and in
    the pickups (`pickup_position`: jobs of the same shop share it)."""

    __tablename__ = "delivery_round_stop"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("delivery_round.id", ondelete="CASCADE"), index=True
    )
    # A job is in one round at most.
    job_id: Mapped[int] = mapped_column(
        ForeignKey("delivery_job.id", ondelete="CASCADE"), unique=True
    )
    position: Mapped[int] = mapped_column(Integer)
    pickup_position: Mapped[int] = mapped_column(Integer)

    round: Mapped[Round] = relationship(back_populates="stops")
    job: Mapped[DeliveryJob] = relationship()


# --- standard parcels: shipments by carrier ------------------------------------------


class ShipmentStatus(enum.StrEnum):
    LABEL_CREATED = "label_created"  # the shop has the carrier's number, parcel still here
    SHIPPED = "shipped"  # handed to the carrier
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    FAILED = "failed"  # a delivery attempt failed
    RETURNED = "returned"  # back to the shop


class Shipment(TimestampMixin, Base):
    """One standard sub-order's parcel: carrier, tracking number, weight, status.

    The sub-order belongs to the shop domain (above this one): named by table only.
    The status follows the carrier's events (see delivery/operations/shipments.py).
    """

    __tablename__ = "shipment"
    __table_args__ = (UniqueConstraint("carrier", "tracking_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_order.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str] = mapped_column(String(20))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    # A key of delivery.operations.shipments.CARRIERS ("colissimo", "other"…).
    carrier: Mapped[str] = mapped_column(String(30))
    tracking_number: Mapped[str] = mapped_column(String(40))
    weight_grams: Mapped[int] = mapped_column(Integer)
    status: Mapped[ShipmentStatus] = mapped_column(
        _enum(ShipmentStatus, "shipment_status"), default=ShipmentStatus.LABEL_CREATED
    )
    # When the event behind the current status happened (carrier's clock).
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    shop: Mapped[Shop] = relationship()
    events: Mapped[list[ShipmentEvent]] = relationship(
        cascade="all, delete-orphan",
        order_by=lambda: [ShipmentEvent.occurred_at, ShipmentEvent.id],
        back_populates="shipment",
    )


class ShipmentEvent(Base):
    """What happened to a parcel and when: the shop's steps and the carrier's events
    (each carrier event id once: a replayed event finds its row)."""

    __tablename__ = "shipment_event"
    __table_args__ = (UniqueConstraint("carrier", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipment.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(String(30))
    # The carrier's event id; None for the shop's own steps.
    external_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[ShipmentStatus] = mapped_column(_enum(ShipmentStatus, "shipment_status"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    description: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[str] = mapped_column(String(100), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    shipment: Mapped[Shipment] = relationship(back_populates="events")
