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

from sqlalchemy import JSON, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import Base
from marketplace.models import Territory, TimestampMixin, UTCDateTime, _enum, utcnow


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
