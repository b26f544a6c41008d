"""When each fulfilment method can serve a sub-order: one engine for basket and checkout.

`availability(shop, method, paid_at, point)` answers whether the method is available,
why not (in French, for the resident), the earliest moment and the slots to choose
from. Times are aware UTC datetimes; rules are reasoned about in Europe/Paris, and
delays are elapsed time (added in UTC), so a daylight-saving change never shortens
or lengthens them.

- click-and-collect: ready at paid_at + 2 h while the shop is open, else at its next
  opening;
- express: slots (2 h, aligned on the courier's service start) on a service day, the
  same day when paid before the cut-off, no earlier than paid_at + 4 h, to addresses
  inside the express zone; the shop hands the parcel over on the slot's day, while
  open, once prepared (its next opening after payment + its preparation time);
- standard: delivered between paid_at + 3 days and paid_at + 7 days, no slots;
- merchant delivery: inside the shop's own radius; earliest when prepared and open.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shapely.geometry import Point as ShapelyPoint

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Territory
from merchants.models import Shop
from merchants.operations import next_open_moment

from .config import DeliverySettings, number
from .config import translate as _
from .fees import (
    NotAvailable,
    Point,
    coordinates,
    delivery_fee,
    distance_km,
    is_approximate,
    standard_fee,
)
from .zones import express_zone, point_in_territory, zone_shape

PARIS = ZoneInfo("Europe/Paris")
SEARCH_DAYS = 21  # no express slot within three weeks: not available
CLICK_AND_COLLECT_DELAY = timedelta(hours=2)  # the default; see DeliverySettings


@dataclass(frozen=True)
class Slot:
    """A delivery window, aware UTC datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None  # French, for the resident, when not available
    earliest: datetime | None = None  # UTC
    slots: list[Slot] = field(default_factory=list)
    latest: datetime | None = None  # standard delivery: the end of the expected window
    # The address is only the commune's point (geocoder off or failing): tell the
    # resident that the answer for a delivery is approximate.
    approximate: bool = False

    @classmethod
    def no(cls, reason: str) -> Availability:
        return cls(available=False, reason=reason)


@dataclass(frozen=True)
class DeliveryOption:
    """One method for one shop, as the basket shows it."""

    method: FulfilmentMethod
    availability: Availability
    fee_cents: int | None  # None when not available


def _territory(shop: Shop, territory: Territory | None) -> Territory | None:
    return territory if territory is not None else db.session.get(Territory, shop.territory_id)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("paid_at must be timezone-aware")
    return moment.astimezone(UTC)


def ready_for_handover(shop: Shop, paid_at: datetime) -> datetime | None:
    """The shop's next opening after payment plus its preparation time."""
    opening = next_open_moment(shop, _utc(paid_at))
    if opening is None:
        return None
    return opening.astimezone(UTC) + timedelta(minutes=max(0, shop.preparation_minutes or 0))


def _wall(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock)


def _exists(naive: datetime) -> datetime | None:
    """The UTC instant of a Paris wall-clock time, None when the clock skips it."""
    aware = naive.replace(tzinfo=PARIS)
    instant = aware.astimezone(UTC)
    return instant if instant.astimezone(PARIS).replace(tzinfo=None) == naive else None


def service_slots(day: date, settings: DeliverySettings) -> list[Slot]:
    """The courier slots of a local date (none on days without service).

    Slots are aligned on the service start and end by the service end; a slot whose
    wall-clock times a daylight-saving change skips or stretches is left out, so
    every slot lasts exactly `slot_minutes`.
    """
    if day.weekday() not in settings.courier_weekdays:
        return []
    length = timedelta(minutes=settings.slot_minutes)
    closing = _wall(day, settings.courier_end)
    slots = []
    start = _wall(day, settings.courier_start)
    while start + length <= closing:
        begins, ends = _exists(start), _exists(start + length)
        if begins is not None and ends is not None and ends - begins == length:
            slots.append(Slot(begins, ends))
        start += length
    return slots


def express_slots(shop: Shop, paid_at: datetime, settings: DeliverySettings) -> list[Slot]:
    """The express slots offered, from the earliest, over `slot_days` service days."""
    paid = _utc(paid_at)
    ready = ready_for_handover(shop, paid)
    if ready is None:
        return []
    minimum = paid + timedelta(minutes=settings.express_delay_minutes)
    local = paid.astimezone(PARIS)
    first_day = local.date() + timedelta(days=0 if local.time() < settings.express_cutoff else 1)
    slots: list[Slot] = []
    days = 0
    for offset in range(SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        candidates = [s for s in service_slots(day, settings) if s.start >= minimum]
        if not candidates:
            continue
        # Hand-over on the slot's day, while the shop is open, once prepared.
        day_start = _exists(_wall(day, time(0))) or candidates[0].start
        handover = next_open_moment(shop, max(ready, day_start))
        if handover is None:
            break
        handover = handover.astimezone(UTC)
        day_slots = [s for s in candidates if s.start >= handover]
        if day_slots:
            slots.extend(day_slots)
            days += 1
            if days >= settings.slot_days:
                break
    return slots


def _express(
    shop: Shop,
    paid_at: datetime,
    point: Point | None,
    territory: Territory | None,
    settings: DeliverySettings,
) -> Availability:
    if point is None:
        return Availability.no(_("Indiquez une adresse de livraison pour la livraison express."))
    if territory is None:
        return Availability.no(_("La livraison express n'est pas proposée ici."))
    lat, lon = coordinates(point)
    if point_in_territory(territory, lat, lon) is False:
        return Availability.no(
            _("Cette adresse est en dehors du territoire %(name)s.", name=territory.name)
        )
    zone = express_zone(territory)
    geometry = zone_shape(zone) if zone is not None else None
    if geometry is None:
        return Availability.no(
            _("La livraison express n'est pas encore proposée sur ce territoire.")
        )
    if not geometry.covers(ShapelyPoint(lon, lat)):
        return Availability.no(_("Cette adresse est en dehors de la zone de livraison express."))
    slots = express_slots(shop, paid_at, settings)
    if not slots:
        return Availability.no(
            _("Aucun créneau de livraison express dans les trois prochaines semaines.")
        )
    return Availability(True, earliest=slots[0].start, slots=slots)


def _standard(
    paid_at: datetime, weight_grams: int | None, settings: DeliverySettings
) -> Availability:
    if weight_grams is not None and standard_fee(max(0, weight_grams), settings) is None:
        limit = settings.standard_bands[-1][0] / 1000
        return Availability.no(
            _("Colis trop lourd pour la livraison standard (%(kg)s kg au plus).", kg=number(limit))
        )
    paid = _utc(paid_at)
    return Availability(
        True,
        earliest=paid + timedelta(days=settings.standard_min_days),
        latest=paid + timedelta(days=max(settings.standard_min_days, settings.standard_max_days)),
    )


def _merchant(shop: Shop, paid_at: datetime, point: Point | None) -> Availability:
    if not shop.delivery_radius_km:
        return Availability.no(_("Cette boutique ne livre pas elle-même."))
    if point is None:
        return Availability.no(_("Indiquez une adresse de livraison."))
    distance = distance_km(shop, point)
    if distance > shop.delivery_radius_km:
        return Availability.no(
            _(
                "Cette adresse est à %(d)s km de la boutique, qui livre à %(r)s km au plus.",
                d=number(distance),
                r=number(shop.delivery_radius_km),
            )
        )
    ready = ready_for_handover(shop, paid_at)
    earliest = next_open_moment(shop, ready) if ready is not None else None
    if earliest is None:
        return Availability.no(_("La boutique n'a pas d'ouverture prévue prochainement."))
    return Availability(True, earliest=earliest.astimezone(UTC))


def availability(
    shop: Shop,
    method: FulfilmentMethod,
    paid_at: datetime,
    point: Point | None = None,
    *,
    weight_grams: int | None = None,
    territory: Territory | None = None,
) -> Availability:
    """Whether `method` can serve this shop's sub-order paid at `paid_at` (aware) and
    delivered to `point` ((latitude, longitude) or a `marketplace.geo.GeoPoint`,
    as `locate()` returns it), and when.

    `territory` defaults to the shop's; `weight_grams`, when given, is checked
    against the standard delivery's weight bands.
    """
    method = FulfilmentMethod(method)
    if not shop.offers(method):
        return Availability.no(
            _("Cette boutique ne propose pas ce mode de retrait ou de livraison.")
        )
    territory = _territory(shop, territory)
    settings = DeliverySettings.of(territory)
    if method is FulfilmentMethod.CLICK_AND_COLLECT:
        delay = timedelta(minutes=settings.click_and_collect_delay_minutes)
        ready = next_open_moment(shop, _utc(paid_at) + delay)
        if ready is None:
            return Availability.no(_("La boutique n'a pas d'ouverture prévue prochainement."))
        return Availability(True, earliest=ready.astimezone(UTC))
    if method is FulfilmentMethod.STANDARD:
        return _standard(paid_at, weight_grams, settings)
    if method is FulfilmentMethod.EXPRESS:
        answer = _express(shop, paid_at, point, territory, settings)
    else:
        answer = _merchant(shop, paid_at, point)
    return replace(answer, approximate=True) if is_approximate(point) else answer


def delivery_options(
    shop: Shop,
    paid_at: datetime,
    point: Point | None,
    weight_grams: int,
    territory: Territory | None = None,
) -> list[DeliveryOption]:
    """Every method the shop offers, with its availability and fee, for the basket."""
    territory = _territory(shop, territory)
    options = []
    for method in FulfilmentMethod:
        if not shop.offers(method):
            continue
        answer = availability(
            shop, method, paid_at, point, weight_grams=weight_grams, territory=territory
        )
        fee: int | None = None
        if answer.available:
            try:
                fee = delivery_fee(method, shop, point, weight_grams, territory)
            except NotAvailable as exc:
                answer = Availability.no(exc.reason)
        options.append(DeliveryOption(method, answer, fee))
    return options


def earliest_ready(
    shop: Shop, method: FulfilmentMethod, paid_at: datetime, point: Point | None = None
) -> datetime | None:
    """The earliest moment the sub-order can be handed over or delivered, or None.

    Click-and-collect: paid_at + 2 h, and only while the shop is open; otherwise
    at its next opening. The delay is elapsed time, added in UTC: a Europe/Paris
    `paid_at` would otherwise add wall-clock hours across a daylight-saving change.
    Deliveries: see `availability`, which also says why not.
    """
    if method is FulfilmentMethod.CLICK_AND_COLLECT and not shop.offers(method):
        # Kept from the first version: the rule does not depend on the offer.
        ready = next_open_moment(shop, _utc(paid_at) + CLICK_AND_COLLECT_DELAY)
        return ready.astimezone(UTC) if ready is not None else None
    return availability(shop, method, paid_at, point).earliest


def available_methods(
    shop: Shop,
    point: Point | None = None,
    *,
    paid_at: datetime | None = None,
    weight_grams: int | None = None,
) -> list[FulfilmentMethod]:
    """The methods a resident can choose for this shop.

    Without an address only click-and-collect can be (the deliveries need one);
    with `point`, every offered method the engine finds available at `paid_at`
    (default: now).
    """
    if point is None:
        return [m for m in (FulfilmentMethod.CLICK_AND_COLLECT,) if shop.offers(m)]
    moment = paid_at or datetime.now(UTC)
    chosen = []
    for method in FulfilmentMethod:
        if not shop.offers(method):
            continue
        if (
            method is FulfilmentMethod.CLICK_AND_COLLECT
            or availability(shop, method, moment, point, weight_grams=weight_grams).available
        ):
            chosen.append(method)
    return chosen
