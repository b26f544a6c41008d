"""Delivery fees, in integer euro cents TTC.

- click-and-collect: free;
- express: the territory's flat fee plus a part per started kilometre beyond a free
  distance, measured from the shop to the address (geodesic);
- standard: by the parcel's weight band; heavier than the last band: not available;
- merchant delivery: the shop's own fee (0 when it set none), inside its radius.
"""

from __future__ import annotations

import math

from geopy.distance import geodesic

from marketplace.geo import GeoPoint
from marketplace.models import FulfilmentMethod, Territory
from merchants.models import Shop

from .config import DeliverySettings, number
from .config import translate as _

# An address's point: (latitude, longitude), or marketplace.geo's GeoPoint (from
# `locate()`), whose `approximate` the availability passes on.
Point = tuple[float, float] | GeoPoint


def coordinates(point: Point) -> tuple[float, float]:
    if isinstance(point, GeoPoint):
        return point.latitude, point.longitude
    lat, lon = point
    return float(lat), float(lon)


def is_approximate(point: Point | None) -> bool:
    return isinstance(point, GeoPoint) and point.approximate


class NotAvailable(ValueError):
    """The method cannot serve this shop, address or parcel; `reason` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def distance_km(shop: Shop, point: Point) -> float:
    return float(geodesic((shop.latitude, shop.longitude), coordinates(point)).km)


def standard_fee(weight_grams: int, settings: DeliverySettings) -> int | None:
    """The band's fee, or None when the parcel is heavier than the last band."""
    for max_grams, cents in settings.standard_bands:
        if weight_grams <= max_grams:
            return cents
    return None


def express_fee(distance: float, settings: DeliverySettings) -> int:
    beyond = max(0.0, distance - settings.express_free_km)
    # A started kilometre counts; a rounding crumb (4.9999999) does not start one.
    return settings.express_fee_cents + math.ceil(round(beyond, 6)) * settings.express_km_cents


def delivery_fee(
    method: FulfilmentMethod,
    shop: Shop,
    address_point: Point | None,
    weight_grams: int,
    territory: Territory | None,
) -> int:
    """The fee of `method` for this shop, address and weight, in cents.

    Raises NotAvailable (with a French reason) when the method cannot be priced:
    no address for a delivery, parcel too heavy, address beyond the shop's radius.
    Zone and timing rules are `availability()`'s: call it first.
    """
    settings = DeliverySettings.of(territory)
    if method is FulfilmentMethod.CLICK_AND_COLLECT:
        return 0
    if method is FulfilmentMethod.STANDARD:
        fee = standard_fee(max(0, weight_grams), settings)
        if fee is None:
            limit = settings.standard_bands[-1][0] / 1000
            raise NotAvailable(
                _(
                    "Colis trop lourd pour la livraison standard (%(kg)s kg au plus).",
                    kg=number(limit),
                )
            )
        return fee
    if address_point is None:
        raise NotAvailable(_("Indiquez une adresse de livraison."))
    distance = distance_km(shop, address_point)
    if method is FulfilmentMethod.EXPRESS:
        return express_fee(distance, settings)
    if method is FulfilmentMethod.MERCHANT_DELIVERY:
        if not shop.delivery_radius_km:
            raise NotAvailable(_("Cette boutique ne livre pas elle-même."))
        if distance > shop.delivery_radius_km:
            raise NotAvailable(
                _(
                    "Cette adresse est à %(d)s km de la boutique, qui livre à %(r)s km au plus.",
                    d=number(distance),
                    r=number(shop.delivery_radius_km),
                )
            )
        return shop.delivery_fee_cents or 0
    raise NotAvailable(_("Mode de livraison inconnu."))
