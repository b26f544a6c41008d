"""Shared by the courier tests: an approved courier, an express sub-order made ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from delivery.models import Courier, CourierStatus, DeliveryJob, Vehicle
from delivery.operations import jobs
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role, Territory
from shop.models import SubOrder, SubOrderStatus
from shop.operations import orders as order_ops
from tests.factories import UserFactory
from tests.merchants.sales_data import make_sale


def approved_courier(
    territory_id: int, lat: float | None = 44.5, lon: float | None = 0.16, available: bool = True
) -> Courier:
    user = UserFactory(roles=[Role.RESIDENT, Role.COURIER])
    courier = Courier(
        user_id=user.id,
        territory_id=territory_id,
        vehicle=Vehicle.BIKE,
        capacity_kg=20,
        phone="0612345678",
        status=CourierStatus.APPROVED,
        available=available,
        latitude=lat,
        longitude=lon,
    )
    db.session.add(courier)
    db.session.flush()
    return courier


def express_sub(shops: dict[str, Any], shop_key: str = "a") -> SubOrder:
    """A paid express sub-order of shop `shop_key`, accepted by the shop."""
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.flush()
    variant = shops["book"] if shop_key == "a" else shops["cheese"]
    sub = make_sale(
        shops[shop_key],
        resident,
        [(variant, 1)],
        datetime.now(UTC) - timedelta(hours=5),
        status=SubOrderStatus.ACCEPTED,
    )
    sub.fulfilment_method = FulfilmentMethod.EXPRESS
    db.session.flush()
    return sub


def ready_job(shops: dict[str, Any], shop_key: str = "a") -> tuple[SubOrder, DeliveryJob]:
    sub = express_sub(shops, shop_key)
    order_ops.mark_ready(sub, shops[f"owner_{shop_key}"])
    job = jobs.job_for_sub_order(sub.id)
    assert job is not None
    return sub, job


def set_courier_settings(territory_id: int, **values: Any) -> None:
    territory = db.session.get(Territory, territory_id)
    assert territory is not None
    settings = dict(territory.settings or {})
    settings["delivery"] = {**settings.get("delivery", {}), **values}
    territory.settings = settings
    db.session.flush()
