"""The delivery engine, rule by rule: express (zone, cut-off, +4 h, 2-hour slots,
courier hours, the shop's hand-over), standard (3 to 7 days), the shop's own
deliveries (radius, lead time), click-and-collect, and bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from delivery.operations import (
    Availability,
    Slot,
    availability,
    available_methods,
    delivery_options,
    earliest_ready,
)
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod
from merchants.models import Closure
from tests.factories import ShopFactory

from .zone_helpers import CENTRE, EAST, FAR, WEST, insee, make_territory

PARIS = ZoneInfo("Europe/Paris")
EXPRESS = FulfilmentMethod.EXPRESS
STANDARD = FulfilmentMethod.STANDARD
MERCHANT = FulfilmentMethod.MERCHANT_DELIVERY
CC = FulfilmentMethod.CLICK_AND_COLLECT
ALL = [m.value for m in FulfilmentMethod]


def paris(*args: int) -> datetime:
    """A Paris wall-clock time, as the UTC instant the engine is given."""
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def slot(day: date, start: int, end: int) -> Slot:
    return Slot(
        datetime.combine(day, time(start), PARIS).astimezone(UTC),
        datetime.combine(day, time(end), PARIS).astimezone(UTC),
    )


@pytest.fixture
def territory(app):
    return make_territory()


@pytest.fixture
def shop(territory):
    """Monday to Saturday 9:00-19:00, 2 h of preparation, every method, 6 km radius."""
    commune = territory.communes[0]
    return ShopFactory(
        commune=commune,
        territory_id=territory.id,
        fulfilment_methods=ALL,
        preparation_minutes=120,
        delivery_radius_km=6.0,
        delivery_fee_cents=300,
    )


TUE = date(2026, 6, 9)
WED = date(2026, 6, 10)


# --- express ----------------------------------------------------------------


def test_express_same_day_from_payment_plus_four_hours(shop):
    # Tuesday 8:00: +4 h = 12:00; the shop opens at 9:00, ready at 11:00;
    # aligned slots 9-11, 11-13, 13-15…: the first starting at 12:00 or later.
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE)
    assert answer.available and answer.reason is None
    assert answer.earliest == slot(TUE, 13, 15).start
    assert answer.slots[:3] == [slot(TUE, 13, 15), slot(TUE, 15, 17), slot(TUE, 17, 19)]
    # Two service days are offered: the rest of Tuesday and all of Wednesday.
    assert answer.slots[3:] == [slot(WED, h, h + 2) for h in (9, 11, 13, 15, 17)]


def test_express_after_the_cut_off_is_the_next_service_day(shop):
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 14, 0), CENTRE)
    assert answer.earliest == slot(WED, 9, 11).start
    # One minute before the cut-off, but +4 h = 17:59: Tuesday's last slot starts
    # at 17:00, too early: Wednesday as well.
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 13, 59), CENTRE)
    assert answer.earliest == slot(WED, 9, 11).start
    # 12:59 → 16:59: the 17-19 slot.
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 12, 59), CENTRE)
    assert answer.earliest == slot(TUE, 17, 19).start


def test_express_has_no_service_on_sunday(shop):
    # Saturday after the cut-off: Monday 9:00 (prepared on Saturday, handed over
    # when the shop opens on Monday).
    monday = date(2026, 6, 15)
    assert availability(shop, EXPRESS, paris(2026, 6, 13, 15, 0), CENTRE).earliest == (
        slot(monday, 9, 11).start
    )
    # Paid on Sunday (shop closed): prepared from Monday 9:00, ready at 11:00.
    assert availability(shop, EXPRESS, paris(2026, 6, 14, 10, 0), CENTRE).earliest == (
        slot(monday, 11, 13).start
    )


def test_express_waits_for_the_shop_to_open_and_prepare(shop):
    # Paid Sunday night: Monday the shop opens at 9:00 and needs 2 h: 11:00.
    shop.preparation_minutes = 120
    monday = date(2026, 6, 15)
    answer = availability(shop, EXPRESS, paris(2026, 6, 14, 23, 0), CENTRE)
    assert answer.earliest == slot(monday, 11, 13).start
    # A shop opening at 14:00 on Mondays hands over at 14:00 at the earliest.
    for h in shop.hours:
        if h.weekday == 0:
            h.opens_at = time(14)
    db.session.flush()
    answer = availability(shop, EXPRESS, paris(2026, 6, 14, 23, 0), CENTRE)
    assert answer.earliest == slot(monday, 17, 19).start  # 14:00 + 2 h, aligned


def test_express_skips_the_shops_closure_days(shop):
    shop.closures.append(Closure(starts_on=date(2026, 6, 15), ends_on=date(2026, 6, 16)))
    db.session.flush()
    answer = availability(shop, EXPRESS, paris(2026, 6, 13, 15, 0), CENTRE)
    assert answer.earliest == slot(date(2026, 6, 17), 9, 11).start
    assert {s.start.astimezone(PARIS).date() for s in answer.slots} == {
        date(2026, 6, 17),
        date(2026, 6, 18),
    }


def test_express_shop_closed_for_months(shop):
    shop.closures.append(Closure(starts_on=date(2026, 6, 1), ends_on=date(2026, 12, 31)))
    db.session.flush()
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE)
    assert not answer.available and answer.reason and answer.slots == []


def test_express_settings_of_the_territory(app):
    territory = make_territory(
        settings={
            "express_cutoff": "11:00",
            "courier_start": "10:00",
            "courier_end": "18:00",
            "courier_weekdays": [1, 2, 3, 4],  # Tuesday to Friday
            "slot_minutes": 60,
            "slot_days": 1,
            "express_delay_minutes": 180,
        }
    )
    shop = ShopFactory(
        commune=territory.communes[0], territory_id=territory.id, fulfilment_methods=ALL
    )
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 10, 30), CENTRE)
    assert answer.earliest == slot(TUE, 14, 15).start  # 13:30 → the 14:00 hour
    assert answer.slots[-1] == slot(TUE, 17, 18)
    assert len(answer.slots) == 4
    # After 11:00: Wednesday 10:00 (ready since Tuesday).
    assert availability(shop, EXPRESS, paris(2026, 6, 9, 11, 0), CENTRE).earliest == (
        slot(WED, 10, 11).start
    )
    # Saturday: no service until Tuesday.
    assert availability(shop, EXPRESS, paris(2026, 6, 13, 9, 0), CENTRE).earliest == (
        slot(date(2026, 6, 16), 10, 11).start
    )


def test_express_malformed_settings_fall_back_to_defaults(app):
    territory = make_territory(
        settings={"express_cutoff": 14, "slot_minutes": "deux heures", "courier_start": "20:00"}
    )
    shop = ShopFactory(
        commune=territory.communes[0], territory_id=territory.id, fulfilment_methods=ALL
    )
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE)
    assert answer.earliest == slot(TUE, 13, 15).start


def test_express_across_the_spring_change(shop):
    # Saturday 28 March after the cut-off → Monday 30 March, summer time.
    answer = availability(shop, EXPRESS, paris(2026, 3, 28, 15, 0), CENTRE)
    assert answer.earliest == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 9:00 UTC+2
    assert all(s.end - s.start == timedelta(hours=2) for s in answer.slots)


def test_express_needs_an_address_in_the_zone(shop, territory):
    no_address = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), None)
    assert no_address == Availability(
        False, "Indiquez une adresse de livraison pour la livraison express."
    )
    east = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), EAST)
    assert not east.available
    assert east.reason == "Cette adresse est en dehors de la zone de livraison express."
    far = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), FAR)
    assert not far.available
    assert far.reason == f"Cette adresse est en dehors du territoire {territory.name}."
    assert far.earliest is None and far.slots == []


def test_express_zone_of_several_communes(app):
    territory = make_territory(express=[])
    shop = ShopFactory(
        commune=territory.communes[0], territory_id=territory.id, fulfilment_methods=ALL
    )
    none_yet = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE)
    assert none_yet.reason == "La livraison express n'est pas encore proposée sur ce territoire."
    from delivery.operations import set_zone_communes

    set_zone_communes(territory, [insee(territory, "Marmande-test"), insee(territory, "Est-test")])
    assert availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), EAST).available
    assert not availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), WEST).available


def test_a_method_the_shop_does_not_offer(app, territory):
    shop = ShopFactory(commune=territory.communes[0], territory_id=territory.id)
    answer = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE)
    assert not answer.available
    assert answer.reason == "Cette boutique ne propose pas ce mode de retrait ou de livraison."


def test_paid_at_must_be_aware(shop):
    with pytest.raises(ValueError):
        availability(shop, EXPRESS, datetime(2026, 6, 9, 8, 0), CENTRE)


# --- standard ---------------------------------------------------------------


def test_standard_three_to_seven_days(shop):
    paid = paris(2026, 6, 9, 22, 0)
    answer = availability(shop, STANDARD, paid, FAR, weight_grams=2500)
    assert answer.available and answer.slots == []
    assert answer.earliest == paid + timedelta(days=3)
    assert answer.latest == paid + timedelta(days=7)


def test_standard_too_heavy(shop):
    answer = availability(shop, STANDARD, paris(2026, 6, 9, 8, 0), CENTRE, weight_grams=30_001)
    assert not answer.available
    assert answer.reason == "Colis trop lourd pour la livraison standard (30 kg au plus)."
    assert availability(
        shop, STANDARD, paris(2026, 6, 9, 8, 0), CENTRE, weight_grams=30_000
    ).available


# --- the shop's own deliveries ----------------------------------------------


def test_merchant_delivery_inside_its_radius(shop):
    # Paid Tuesday 8:00: the shop opens at 9:00 and prepares for 2 h.
    answer = availability(shop, MERCHANT, paris(2026, 6, 9, 8, 0), (44.53, 0.17))
    assert answer.available
    assert answer.earliest == paris(2026, 6, 9, 11, 0)
    # Paid 18:00: ready at 20:00, closed: Wednesday 9:00.
    answer = availability(shop, MERCHANT, paris(2026, 6, 9, 18, 0), (44.53, 0.17))
    assert answer.earliest == paris(2026, 6, 10, 9, 0)


def test_merchant_delivery_outside_its_radius(shop):
    # 8 km east (0.1° of longitude at 44.5° N) > 6 km.
    answer = availability(shop, MERCHANT, paris(2026, 6, 9, 8, 0), EAST)
    assert not answer.available
    assert answer.reason == "Cette adresse est à 8 km de la boutique, qui livre à 6 km au plus."


def test_merchant_delivery_without_radius_or_address(shop):
    assert availability(shop, MERCHANT, paris(2026, 6, 9, 8, 0), None).reason == (
        "Indiquez une adresse de livraison."
    )
    shop.delivery_radius_km = None
    assert availability(shop, MERCHANT, paris(2026, 6, 9, 8, 0), CENTRE).reason == (
        "Cette boutique ne livre pas elle-même."
    )


# --- click-and-collect and the compatibility functions -----------------------


def test_click_and_collect_through_the_engine(shop):
    answer = availability(shop, CC, paris(2026, 6, 9, 10, 0))
    assert answer == Availability(True, earliest=paris(2026, 6, 9, 12, 0))
    assert earliest_ready(shop, CC, paris(2026, 6, 9, 10, 0)) == paris(2026, 6, 9, 12, 0)
    assert earliest_ready(shop, EXPRESS, paris(2026, 6, 9, 8, 0), CENTRE) == slot(TUE, 13, 15).start
    assert earliest_ready(shop, EXPRESS, paris(2026, 6, 9, 8, 0)) is None  # no address


def test_available_methods(shop):
    # Without an address only click-and-collect (what checkout offers today).
    assert available_methods(shop) == [CC]
    paid = paris(2026, 6, 9, 8, 0)
    assert available_methods(shop, CENTRE, paid_at=paid) == [CC, EXPRESS, STANDARD, MERCHANT]
    assert available_methods(shop, EAST, paid_at=paid) == [CC, STANDARD]
    assert available_methods(shop, CENTRE, paid_at=paid, weight_grams=40_000) == [
        CC,
        EXPRESS,
        MERCHANT,
    ]


def test_delivery_options_for_the_basket(shop):
    options = {o.method: o for o in delivery_options(shop, paris(2026, 6, 9, 8, 0), EAST, 1200)}
    assert options[CC].fee_cents == 0 and options[CC].availability.available
    assert options[STANDARD].fee_cents == 790
    assert options[EXPRESS].fee_cents is None and not options[EXPRESS].availability.available
    assert options[MERCHANT].fee_cents is None
    inside = {o.method: o for o in delivery_options(shop, paris(2026, 6, 9, 8, 0), CENTRE, 500)}
    assert inside[EXPRESS].fee_cents == 590
    assert inside[MERCHANT].fee_cents == 300
    assert inside[STANDARD].fee_cents == 490


def test_an_approximate_address_is_said_so(shop, territory):
    """Without a geocoder, `marketplace.geo.locate` gives the commune's point,
    marked approximate: the answer for deliveries says so, and still answers."""
    from marketplace.geo import GeoPoint, locate

    commune = next(c for c in territory.communes if c.name == "Marmande-test")
    point = locate("3 rue Inconnue", "47200", commune)
    assert point == GeoPoint(*CENTRE, approximate=True, label="Marmande-test")
    express = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), point)
    assert express.available and express.approximate
    assert availability(shop, MERCHANT, paris(2026, 6, 9, 8, 0), point).approximate
    assert not availability(shop, STANDARD, paris(2026, 6, 9, 8, 0), point).approximate
    precise = GeoPoint(*EAST, approximate=False)
    east = availability(shop, EXPRESS, paris(2026, 6, 9, 8, 0), precise)
    assert not east.available and not east.approximate
    from delivery.operations import delivery_fee

    assert delivery_fee(EXPRESS, shop, precise, 0, territory) == 740
