"""Delivery fees in cents: express flat + per started km beyond 5 km, standard by
weight band, the shop's own fee, click-and-collect free; the territory's settings."""

from __future__ import annotations

import pytest

from delivery.operations import DeliverySettings, NotAvailable, delivery_fee
from marketplace.models import FulfilmentMethod
from tests.factories import ShopFactory

from .zone_helpers import CENTRE, EAST, make_territory

EXPRESS = FulfilmentMethod.EXPRESS
STANDARD = FulfilmentMethod.STANDARD
MERCHANT = FulfilmentMethod.MERCHANT_DELIVERY
CC = FulfilmentMethod.CLICK_AND_COLLECT


@pytest.fixture
def territory(app):
    return make_territory()


@pytest.fixture
def shop(territory):
    return ShopFactory(
        commune=territory.communes[0],
        territory_id=territory.id,
        fulfilment_methods=[m.value for m in FulfilmentMethod],
        delivery_radius_km=10.0,
        delivery_fee_cents=450,
    )


def test_click_and_collect_is_free(shop, territory):
    assert delivery_fee(CC, shop, None, 2000, territory) == 0


def test_express_flat_then_per_started_kilometre(shop, territory):
    assert delivery_fee(EXPRESS, shop, CENTRE, 500, territory) == 590
    # ≈ 4.45 km north: still within the free 5 km.
    assert delivery_fee(EXPRESS, shop, (44.54, 0.16), 500, territory) == 590
    # 0.1° east ≈ 7.95 km: 3 started km beyond 5 → 590 + 3 × 50.
    assert delivery_fee(EXPRESS, shop, EAST, 500, territory) == 740


@pytest.mark.parametrize(
    ("grams", "cents"),
    [(0, 490), (1000, 490), (1001, 790), (5000, 790), (5001, 1290), (30_000, 1290)],
)
def test_standard_by_weight_band(shop, territory, grams, cents):
    assert delivery_fee(STANDARD, shop, None, grams, territory) == cents


def test_standard_beyond_the_last_band(shop, territory):
    with pytest.raises(NotAvailable) as error:
        delivery_fee(STANDARD, shop, None, 30_001, territory)
    assert error.value.reason == "Colis trop lourd pour la livraison standard (30 kg au plus)."


def test_merchant_delivery_uses_the_shops_fee(shop, territory):
    assert delivery_fee(MERCHANT, shop, EAST, 500, territory) == 450
    shop.delivery_fee_cents = None
    assert delivery_fee(MERCHANT, shop, EAST, 500, territory) == 0
    shop.delivery_radius_km = 5.0
    with pytest.raises(NotAvailable):
        delivery_fee(MERCHANT, shop, EAST, 500, territory)
    shop.delivery_radius_km = None
    with pytest.raises(NotAvailable):
        delivery_fee(MERCHANT, shop, CENTRE, 500, territory)


def test_deliveries_need_an_address(shop, territory):
    for method in (EXPRESS, MERCHANT):
        with pytest.raises(NotAvailable) as error:
            delivery_fee(method, shop, None, 500, territory)
        assert error.value.reason == "Indiquez une adresse de livraison."


def test_the_territorys_settings(app):
    territory = make_territory(
        settings={
            "express_fee_cents": 800,
            "express_km_cents": 100,
            "express_free_km": 2,
            "standard_bands": [[2000, 500], [10_000, 900]],
        }
    )
    shop = ShopFactory(commune=territory.communes[0], territory_id=territory.id)
    assert delivery_fee(EXPRESS, shop, EAST, 0, territory) == 800 + 6 * 100  # 7.95 - 2
    assert delivery_fee(STANDARD, shop, None, 2500, territory) == 900
    with pytest.raises(NotAvailable):
        delivery_fee(STANDARD, shop, None, 10_001, territory)


def test_settings_defaults_and_bad_values():
    assert DeliverySettings.from_dict({}) == DeliverySettings()
    settings = DeliverySettings.from_dict(
        {
            "express_fee_cents": -5,
            "express_km_cents": 12.5,
            "standard_bands": "heavy",
            "courier_weekdays": [7],
            "slot_minutes": True,
            "express_free_km": "3.5",
        }
    )
    assert settings == DeliverySettings(express_free_km=3.5)


def test_courier_hours_shorter_than_a_slot_fall_back_to_defaults():
    settings = DeliverySettings.from_dict(
        {"courier_start": "10:00", "courier_end": "11:00", "slot_minutes": 90, "slot_days": 3}
    )
    assert settings == DeliverySettings(slot_days=3)
    reversed_hours = DeliverySettings.from_dict({"courier_start": "18:00", "courier_end": "08:00"})
    assert reversed_hours == DeliverySettings()
