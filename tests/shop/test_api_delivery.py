"""Deliveries through the JSON API: the basket's options for an address (methods,
availability and why not, earliest time, slots, fee) and a checkout with express,
standard or shop delivery, refused as the checkout page refuses it (422 naming the
field), nothing written when refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role
from merchants.models import Variant
from shop.models import Order
from tests.delivery.zone_helpers import make_territory
from tests.factories import ShopFactory, UserFactory, VariantFactory
from tests.shop.test_api import API, assert_error, bearer, checkout_body

ALL_METHODS = [m.value for m in FulfilmentMethod]
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def delivery(app):
    territory = make_territory()  # express zone: Marmande-test, where the shop is
    communes = {c.name: c for c in territory.communes}
    shop = ShopFactory(
        commune=communes["Marmande-test"],
        name="Épicerie Livrée",
        fulfilment_methods=ALL_METHODS,
        delivery_radius_km=3,
        delivery_fee_cents=300,
    )
    variant = VariantFactory(
        product__shop=shop, product__name="Confiture", price_cents=1000, weight_grams=800
    )
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    return {"communes": communes, "shop": shop, "variant": variant, "resident": resident}


@pytest.fixture
def auth(delivery):
    return bearer(delivery["resident"])


def _fill(client, auth, variant, quantity=1) -> None:
    added = client.post(
        f"{API}/basket/lines", json={"variant_id": variant.id, "quantity": quantity}, headers=auth
    )
    assert added.status_code == 200, added.json


def _address(setup, commune="Marmande-test", street="3 rue du Marché", postcode="47200"):
    return {"street": street, "postcode": postcode, "commune": setup["communes"][commune].slug}


def _options(client, auth, address=None) -> dict:
    body = {} if address is None else {"address": address}
    response = client.post(f"{API}/checkout/options", json=body, headers=auth)
    assert response.status_code == 200, response.json
    (shop,) = response.json["shops"]
    return {o["method"]: o for o in shop["options"]} | {"_shop": shop, "_body": response.json}


def _orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def _order_body(setup, method, address=None, slot=None) -> dict:
    shop_id = str(setup["shop"].id)
    body = checkout_body(setup["shop"]) | {"fulfilment": {shop_id: method}}
    if address is not None:
        body["address"] = address
    if slot is not None:
        body["slots"] = {shop_id: slot}
    return body


def test_options_for_the_basket_and_an_address(app, client, delivery, auth):
    _fill(client, auth, delivery["variant"], quantity=2)

    without = _options(client, auth)
    assert without["_body"]["address"] is None
    assert without["_shop"]["shop"]["id"] == delivery["shop"].id
    assert without["_shop"]["subtotal_cents"] == 2000
    assert without["_shop"]["weight_grams"] == 1600
    assert without["click_and_collect"]["available"] is True
    assert without["click_and_collect"]["fee_cents"] == 0
    assert without["express"]["available"] is False
    assert "adresse de livraison" in without["express"]["reason"]
    assert without["express"]["fee_cents"] is None and without["express"]["slots"] == []

    near = _options(client, auth, _address(delivery))
    assert near["_body"]["address"]["text"] == "3 rue du Marché, 47200 Marmande-test"
    assert near["_body"]["address"]["approximate"] is True  # the geocoder is off here
    express = near["express"]
    assert express["available"] is True and express["reason"] is None
    assert express["fee_cents"] == 590 and express["approximate"] is True
    assert express["slots"] and express["earliest"] == express["slots"][0]["start"]
    first = express["slots"][0]
    start, end = datetime.fromisoformat(first["start"]), datetime.fromisoformat(first["end"])
    assert end - start == timedelta(hours=2) and start.utcoffset() == timedelta(0)
    standard = near["standard"]
    assert standard["available"] is True and standard["fee_cents"] == 790  # 1.6 kg band
    window = datetime.fromisoformat(standard["latest"]) - datetime.fromisoformat(
        standard["earliest"]
    )
    assert window == timedelta(days=4)
    assert near["merchant_delivery"]["fee_cents"] == 300

    elsewhere = _options(client, auth, _address(delivery, commune="Est-test"))
    assert elsewhere["express"]["available"] is False
    assert "en dehors de la zone de livraison express" in elsewhere["express"]["reason"]
    assert "qui livre à 3 km au plus" in elsewhere["merchant_delivery"]["reason"]
    assert elsewhere["standard"]["available"] is True
    assert _orders() == 0


def test_options_name_a_bad_address_field(app, client, delivery, auth):
    _fill(client, auth, delivery["variant"])
    for address, field in (
        (_address(delivery, postcode="12"), "postcode"),
        (_address(delivery, postcode="33000"), "postcode"),  # not the commune's
        (_address(delivery, street="x"), "street"),
        (_address(delivery) | {"commune": "atlantis"}, "commune"),
        (_address(delivery) | {"commune": "Pas un slug"}, "commune"),
        ({"street": "3 rue du Marché"}, "postcode"),
        ({"street": 12, "postcode": "47200", "commune": "x"}, "street"),
    ):
        body = assert_error(
            client.post(f"{API}/checkout/options", json={"address": address}, headers=auth),
            422,
        )
        assert field in body["errors"]["json"]["address"], (address, body)
    assert_error(
        client.post(f"{API}/checkout/options", json={"address": "here"}, headers=auth), 422
    )
    # A commune of another territory is not one of the basket's.
    other = make_territory()
    db.session.commit()
    stranger = {"street": "1 rue Haute", "postcode": "47200", "commune": other.communes[0].slug}
    body = assert_error(
        client.post(f"{API}/checkout/options", json={"address": stranger}, headers=auth), 422
    )
    assert "commune" in body["errors"]["json"]["address"]


def test_express_checkout_with_a_slot_and_its_fee(app, client, delivery, auth):
    _fill(client, auth, delivery["variant"], quantity=2)
    slot = _options(client, auth, _address(delivery))["express"]["slots"][-1]
    # Sent in Paris time: the same instant as the UTC start listed.
    paris = datetime.fromisoformat(slot["start"]).astimezone(PARIS)
    response = client.post(
        f"{API}/checkout",
        json=_order_body(delivery, "express", _address(delivery), paris.isoformat()),
        headers=auth,
    )
    assert response.status_code == 201, response.json
    order = response.json["order"]
    (sub,) = order["sub_orders"]
    assert sub["fulfilment_method"] == "express"
    assert sub["delivery_fee_cents"] == 590
    assert sub["items_cents"] == 2000 and sub["total_cents"] == 2590
    assert order["total_cents"] == 2590
    assert sub["delivery_slot_start"] == slot["start"] and sub["delivery_slot_end"] == slot["end"]
    assert sub["expected_from"] == slot["start"]
    assert sub["delivery_address"] == "3 rue du Marché, 47200 Marmande-test"
    assert response.json["client_secret"]
    row = db.session.scalar(select(Order))
    assert row.payments[0].amount_cents == 2590


@pytest.mark.parametrize(
    ("method", "commune", "fee"),
    [("standard", "Est-test", 490), ("merchant_delivery", "Marmande-test", 300)],
)
def test_standard_and_shop_delivery_checkout(app, client, delivery, auth, method, commune, fee):
    _fill(client, auth, delivery["variant"])
    response = client.post(
        f"{API}/checkout",
        json=_order_body(delivery, method, _address(delivery, commune=commune)),
        headers=auth,
    )
    assert response.status_code == 201, response.json
    (sub,) = response.json["order"]["sub_orders"]
    assert sub["fulfilment_method"] == method and sub["delivery_fee_cents"] == fee
    assert response.json["order"]["total_cents"] == 1000 + fee
    assert sub["delivery_address"].endswith(commune)
    assert sub["expected_from"] is not None
    assert sub["delivery_slot_start"] is None


def test_delivery_checkout_refusals_name_the_field(app, client, delivery, auth):
    _fill(client, auth, delivery["variant"])
    shop_id = str(delivery["shop"].id)
    here = _address(delivery)
    slots = _options(client, auth, here)["express"]["slots"]
    first = datetime.fromisoformat(slots[0]["start"])
    yesterday = (first - timedelta(days=1)).isoformat()
    cases = [
        # express without a slot, with one never offered, with one that has passed
        (_order_body(delivery, "express", here), "slots", shop_id, "Choisissez un créneau"),
        (
            _order_body(delivery, "express", here, (first + timedelta(minutes=30)).isoformat()),
            "slots",
            shop_id,
            "Créneau plus disponible",
        ),
        (_order_body(delivery, "express", here, yesterday), "slots", shop_id, "plus disponible"),
        # a slot without its offset is not an instant
        (
            _order_body(delivery, "express", here, first.replace(tzinfo=None).isoformat()),
            "slots",
            shop_id,
            None,
        ),
        # outside the express zone, outside the shop's radius
        (
            _order_body(
                delivery, "express", _address(delivery, commune="Est-test"), slots[0]["start"]
            ),
            "fulfilment",
            shop_id,
            "en dehors de la zone de livraison express",
        ),
        (
            _order_body(delivery, "merchant_delivery", _address(delivery, commune="Est-test")),
            "fulfilment",
            shop_id,
            "qui livre à 3 km au plus",
        ),
        # a delivery without an address; a bad address
        (_order_body(delivery, "standard"), "address", "_schema", "adresse de livraison"),
        (
            _order_body(delivery, "standard", _address(delivery, postcode="4720")),
            "address",
            "postcode",
            "Code postal invalide",
        ),
        (
            _order_body(delivery, "standard", _address(delivery) | {"commune": "atlantis"}),
            "address",
            "commune",
            "commune du territoire",
        ),
    ]
    for body, field, key, message in cases:
        error = assert_error(client.post(f"{API}/checkout", json=body, headers=auth), 422)
        named = error["errors"]["json"][field]
        assert key in named, (body, error)
        if message is not None:
            assert message in " ".join(named[key]), (body, error)
            assert message in error["message"]
    assert _orders() == 0
    db.session.expire_all()
    assert db.session.get(Variant, delivery["variant"].id).stock == 10


def test_method_not_offered_by_the_shop(app, client, delivery, auth):
    pickup_only = ShopFactory(commune=delivery["communes"]["Marmande-test"])
    variant = VariantFactory(product__shop=pickup_only, price_cents=500)
    db.session.commit()
    _fill(client, auth, variant)
    response = client.post(
        f"{API}/checkout/options", json={"address": _address(delivery)}, headers=auth
    )
    (shop,) = response.json["shops"]
    assert [o["method"] for o in shop["options"]] == ["click_and_collect"]
    body = checkout_body(pickup_only) | {
        "fulfilment": {str(pickup_only.id): "standard"},
        "address": _address(delivery),
    }
    error = assert_error(client.post(f"{API}/checkout", json=body, headers=auth), 422)
    assert (
        "mode de retrait proposé" in error["errors"]["json"]["fulfilment"][str(pickup_only.id)][0]
    )
    assert _orders() == 0


def test_options_need_a_resident_token(app, client, delivery):
    assert_error(client.post(f"{API}/checkout/options", json={}), 401)
    merchant = UserFactory(roles=[Role.MERCHANT])
    db.session.commit()
    assert_error(client.post(f"{API}/checkout/options", json={}, headers=bearer(merchant)), 403)


def test_options_of_an_empty_basket(app, client, delivery, auth):
    response = client.post(
        f"{API}/checkout/options", json={"address": _address(delivery)}, headers=auth
    )
    assert response.status_code == 200
    assert response.json == {"address": None, "shops": []}
