"""Fulfilment timing, zones and fees: the engine basket and checkout ask.

availability(shop, method, paid_at, point) -> Availability
delivery_fee(method, shop, point, weight_grams, territory) -> int cents
point_in_zone(territory, lat, lon) -> bool

Couriers (couriers), their jobs (jobs) and dispatch (dispatch) are sub-modules,
imported by name: `from delivery.operations import jobs`.
"""

from .config import DeliverySettings
from .fees import NotAvailable, delivery_fee
from .timing import (
    Availability,
    DeliveryOption,
    Slot,
    availability,
    available_methods,
    delivery_options,
    earliest_ready,
    express_slots,
    ready_for_handover,
    service_slots,
)
from .zones import (
    ParsedZone,
    ZoneError,
    clear_zone_polygon,
    express_zone,
    parse_zone_geojson,
    point_in_territory,
    point_in_zone,
    set_zone_communes,
    set_zone_polygon,
    zone_shape,
)

__all__ = [
    "Availability",
    "DeliveryOption",
    "DeliverySettings",
    "NotAvailable",
    "ParsedZone",
    "Slot",
    "ZoneError",
    "availability",
    "available_methods",
    "clear_zone_polygon",
    "delivery_fee",
    "delivery_options",
    "earliest_ready",
    "express_slots",
    "express_zone",
    "parse_zone_geojson",
    "point_in_territory",
    "point_in_zone",
    "ready_for_handover",
    "service_slots",
    "set_zone_communes",
    "set_zone_polygon",
    "zone_shape",
]
