"""Checkout with deliveries: the address, each method's availability, fee and timing,
express slots, the fees in the order total, the PaymentIntent and the ledger."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.request import Request, urlopen

import pytest
from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Commune, FulfilmentMethod, LedgerEntry, Role
from marketplace.money import apply_rate
from marketplace.payments import gateway
from merchants.models import Variant
from shop.models import Order, OrderStatus, SubOrder
from shop.operations.basket import BasketItem, ShopGroup
from shop.operations.checkout import DEFAULT_ITEM_WEIGHT_GRAMS, parcel_weight
from tests.delivery.zone_helpers import make_territory
from tests.factories import (
    DEFAULT_PASSWORD,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import login
from tests.shop.test_order_flow import add_to_basket, pay_with_card, post_webhook, stripe_event_for

ALL_METHODS = [m.value for m in FulfilmentMethod]


def _flush_localstripe(app) -> None:
    """localstripe lists only the session's first 100 events: these tests pay
    several orders, so its store is emptied around each one, leaving room for the
    tests after them (nothing in localstripe outlives a test)."""
    request = Request(  # noqa: S310 - loopback test server
        f"{app.config['STRIPE_API_BASE']}/_config/data", method="DELETE"
    )
    with urlopen(request, timeout=5) as response:  # noqa: S310 - loopback test server
        assert response.status == 200


@pytest.fixture(autouse=True)
def _fresh_localstripe(app):
    _flush_localstripe(app)
    yield
    _flush_localstripe(app)


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
    add_staff(shop, UserFactory(roles=[Role.MERCHANT]))
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    return {
        "territory": territory,
        "communes": communes,
        "shop": shop,
        "variant": variant,
        "resident": resident,
    }


def _start(client, setup, quantity=1):
    login(client, setup["resident"].email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", setup["variant"].id, quantity)
    page = client.get("/commande")
    assert page.status_code == 200
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    return {
        "csrf_token": token,
        "checkout_key": key,
        "name": "Camille Martin",
        "email": "camille@example.org",
        "phone": "06 12 34 56 78",
    }


def _address(setup, commune="Marmande-test", street="3 rue du Marché", postcode="47200"):
    return {"street": street, "postcode": postcode, "commune": str(setup["communes"][commune].id)}


def _slots(client, data, shop):
    checked = client.post("/commande", data={**data, "action": "check"})
    assert checked.status_code == 200
    slots = re.findall(rf'name="slot-{shop.id}" value="([^"]+)"', checked.text)
    return checked, slots


def _orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def test_express_in_the_zone_with_a_slot_is_paid_with_its_fee(app, client, delivery):
    shop = delivery["shop"]
    data = {**_start(client, delivery, quantity=2), **_address(delivery)}
    checked, slots = _slots(client, data, shop)
    assert slots, checked.text
    # Every method the shop offers is listed with its fee.
    assert "Livraison express" in checked.text and "5,90" in checked.text
    assert "Livraison entre le" in checked.text  # standard: the expected window
    assert "Livraison par la boutique" in checked.text and "3,00" in checked.text
    chose = client.post(
        "/commande", data={**data, "action": "check", f"fulfilment-{shop.id}": "express"}
    )
    assert "dont 5,90" in " ".join(chose.text.split())  # the total counts the chosen fee
    chosen = slots[-1]
    response = client.post(
        "/commande", data={**data, f"fulfilment-{shop.id}": "express", f"slot-{shop.id}": chosen}
    )
    assert response.status_code == 302, response.text
    order = db.session.scalar(select(Order).where(Order.user_id == delivery["resident"].id))
    sub = order.sub_orders[0]
    assert sub.fulfilment_method is FulfilmentMethod.EXPRESS
    assert sub.delivery_fee_cents == 590  # the shop is in the address's commune: flat fee
    assert order.total_cents == 2 * 1000 + 590
    assert sub.delivery_slot_start == datetime.fromisoformat(chosen)
    assert sub.delivery_slot_end - sub.delivery_slot_start == timedelta(hours=2)
    assert sub.delivery_address == "3 rue du Marché, 47200 Marmande-test"
    assert sub.delivery_approximate is True  # the geocoder is off in the tests
    assert order.payments[0].amount_cents == order.total_cents
    intent = gateway().client.v1.payment_intents.retrieve(order.payments[0].intent_id)
    assert intent.amount == order.total_cents

    pay_with_card(client, order)
    assert (
        post_webhook(client, app, stripe_event_for(order.payments[0].intent_id)).json["outcome"]
        == "paid"
    )
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    sub = order.sub_orders[0]
    assert order.status is OrderStatus.PAID
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
    assert ledger.balance("stripe:clearing") == 2590
    assert ledger.balance("platform:delivery") == -590
    # The commission is on the items only: the fee changes nothing in it.
    assert sub.commission_ht_cents == apply_rate(2000, sub.commission_rate_bp)
    commission_ttc = sub.commission_ht_cents + sub.commission_vat_cents
    assert ledger.balance(ledger.shop_payable(shop.id)[0]) == -(2000 - commission_ttc)
    assert ledger.balance("platform:commission") == -sub.commission_ht_cents

    detail = client.get(f"/commandes/{order.public_id}").text
    assert "Livraison express" in detail and "5,90" in detail and "créneau" in detail


def test_express_outside_the_zone_is_refused_with_the_reason(app, client, delivery):
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery, commune="Est-test")}
    checked, slots = _slots(client, data, shop)
    assert slots == []
    assert "en dehors de la zone de livraison express" in checked.text
    slot = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    response = client.post(
        "/commande",
        data={**data, f"fulfilment-{shop.id}": "express", f"slot-{shop.id}": slot.isoformat()},
    )
    assert response.status_code == 422
    assert "en dehors de la zone de livraison express" in response.text
    assert _orders() == 0
    db.session.expire_all()
    assert db.session.get(Variant, delivery["variant"].id).stock == 10


def test_slot_no_longer_offered_is_refused(app, client, delivery):
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery)}
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    response = client.post(
        "/commande",
        data={**data, f"fulfilment-{shop.id}": "express", f"slot-{shop.id}": yesterday.isoformat()},
    )
    assert response.status_code == 422
    assert "Créneau plus disponible, choisissez-en un autre" in response.text
    assert _orders() == 0
    missing = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "express"})
    assert "Choisissez un créneau" in missing.text
    assert _orders() == 0


@pytest.mark.parametrize(
    ("quantity", "fee"),
    [(1, 490), (2, 790), (10, 1290)],  # 800 g, 1.6 kg, 8 kg
)
def test_standard_fee_by_weight_band(app, client, delivery, quantity, fee):
    shop = delivery["shop"]
    data = {**_start(client, delivery, quantity=quantity), **_address(delivery, commune="Est-test")}
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "standard"})
    assert response.status_code == 302, response.text
    order = db.session.scalar(select(Order))
    sub = order.sub_orders[0]
    assert sub.delivery_fee_cents == fee
    assert order.total_cents == quantity * 1000 + fee
    assert sub.expected_until - sub.expected_from == timedelta(days=4)
    assert sub.delivery_address.endswith("Est-test")


def test_standard_parcel_too_heavy_is_refused(app, client, delivery):
    variant = db.session.get(Variant, delivery["variant"].id)
    variant.weight_grams, variant.stock = 16000, 10
    db.session.commit()
    shop = delivery["shop"]
    data = {**_start(client, delivery, quantity=2), **_address(delivery)}
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "standard"})
    assert response.status_code == 422
    assert "Colis trop lourd pour la livraison standard" in response.text
    assert _orders() == 0


def test_missing_weights_count_500_g_per_item(app, delivery):
    variant = db.session.get(Variant, delivery["variant"].id)
    variant.weight_grams = None
    other = VariantFactory(product__shop=delivery["shop"], weight_grams=300)
    group = ShopGroup(delivery["shop"], [BasketItem(variant, 3), BasketItem(other, 2)])
    assert parcel_weight(group) == 3 * DEFAULT_ITEM_WEIGHT_GRAMS + 600


def test_shop_delivery_inside_and_outside_its_radius(app, client, delivery):
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery, commune="Est-test")}
    far = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "merchant_delivery"})
    assert far.status_code == 422
    assert "qui livre à 3 km au plus" in far.text
    assert _orders() == 0
    near = client.post(
        "/commande",
        data={**data, **_address(delivery), f"fulfilment-{shop.id}": "merchant_delivery"},
    )
    assert near.status_code == 302, near.text
    order = db.session.scalar(select(Order))
    assert order.sub_orders[0].delivery_fee_cents == 300
    assert order.total_cents == 1300
    assert order.sub_orders[0].expected_from is not None


def test_shop_delivery_fee_stays_with_the_shop(app, client, delivery):
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery)}
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "merchant_delivery"})
    assert response.status_code == 302
    order = db.session.scalar(select(Order))
    pay_with_card(client, order)
    post_webhook(client, app, stripe_event_for(order.payments[0].intent_id))
    db.session.expire_all()
    sub = db.session.get(SubOrder, order.sub_orders[0].id)
    commission_ttc = sub.commission_ht_cents + sub.commission_vat_cents
    assert sub.commission_ht_cents == apply_rate(1000, sub.commission_rate_bp)
    assert ledger.balance(ledger.shop_payable(shop.id)[0]) == -(1300 - commission_ttc)
    assert ledger.balance("platform:delivery") == 0
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ({"postcode": "47x"}, "Code postal invalide"),
        ({"postcode": "75001"}, "n&#39;est pas celui de Marmande-test"),
        ({"street": ""}, "Indiquez le numéro et la rue"),
        ({"commune": ""}, "Choisissez une commune du territoire"),
        ({"commune": "999999"}, "Choisissez une commune du territoire"),
    ],
)
def test_bad_address_is_refused_and_nothing_saved(app, client, delivery, address, message):
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery), **address}
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "standard"})
    assert response.status_code == 422
    assert message in response.text
    assert _orders() == 0


def test_delivery_without_an_address_asks_for_one(app, client, delivery):
    shop = delivery["shop"]
    data = _start(client, delivery)
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "merchant_delivery"})
    assert response.status_code == 422
    assert "Indiquez le numéro et la rue" in response.text
    assert _orders() == 0


def test_commune_of_another_territory_is_refused(app, client, delivery):
    other = make_territory()
    db.session.commit()
    foreign = db.session.scalar(select(Commune).where(Commune.territory_id == other.id))
    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery), "commune": str(foreign.id)}
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "standard"})
    assert response.status_code == 422
    assert "Choisissez une commune du territoire" in response.text


def test_geocoder_off_says_availability_is_approximate(app, client, delivery):
    assert not app.config.get("GEOCODER_ENABLED")
    data = {**_start(client, delivery), **_address(delivery)}
    assert "localisée approximativement" not in client.get("/commande").text  # no address yet
    checked, _ = _slots(client, data, delivery["shop"])
    assert "localisée approximativement" in checked.text


def test_click_and_collect_still_needs_no_address(app, client, delivery):
    shop = delivery["shop"]
    data = _start(client, delivery)
    response = client.post("/commande", data={**data, f"fulfilment-{shop.id}": "click_and_collect"})
    assert response.status_code == 302, response.text
    sub = db.session.scalar(select(SubOrder))
    assert sub.delivery_fee_cents == 0 and sub.delivery_address is None


def test_basket_shows_each_shops_fees_once_an_address_is_known(app, client, delivery):
    data = {**_start(client, delivery), **_address(delivery)}
    assert "Frais de livraison pour" not in client.get("/panier").text
    _slots(client, data, delivery["shop"])
    basket = client.get("/panier").text
    assert "Frais de livraison pour 3 rue du Marché, 47200 Marmande-test" in basket
    assert "Livraison express : 5,90" in " ".join(basket.split())
    # The checkout page remembers it too.
    page = client.get("/commande").text
    assert 'value="3 rue du Marché"' in page and "localisée approximativement" in page


def test_geocoder_failing_falls_back_to_the_communes_point(app, client, delivery):
    app.config.update(GEOCODER_ENABLED=True, GEOCODER_DOMAIN="127.0.0.1:9", GEOCODER_SCHEME="http")
    try:
        shop = delivery["shop"]
        data = {**_start(client, delivery), **_address(delivery)}
        checked, slots = _slots(client, data, shop)
        assert "localisée approximativement" in checked.text and slots
        response = client.post(
            "/commande",
            data={**data, f"fulfilment-{shop.id}": "express", f"slot-{shop.id}": slots[-1]},
        )
        assert response.status_code == 302, response.text
        sub = db.session.scalar(select(SubOrder))
        commune = delivery["communes"]["Marmande-test"]
        assert (sub.delivery_latitude, sub.delivery_longitude) == (
            commune.latitude,
            commune.longitude,
        )
        assert sub.delivery_approximate is True
    finally:
        app.config.update(GEOCODER_ENABLED=False)


def test_refunded_express_fee_comes_back_from_platform_delivery(app, client, delivery):
    from shop.operations.refunds import refund

    shop = delivery["shop"]
    data = {**_start(client, delivery), **_address(delivery)}
    _, slots = _slots(client, data, shop)
    client.post(
        "/commande",
        data={**data, f"fulfilment-{shop.id}": "express", f"slot-{shop.id}": slots[-1]},
    )
    order = db.session.scalar(select(Order))
    pay_with_card(client, order)
    post_webhook(client, app, stripe_event_for(order.payments[0].intent_id))
    db.session.expire_all()
    sub = db.session.get(SubOrder, order.sub_orders[0].id)
    refund(sub, None, "system", amount_cents=sub.total_cents, reason="test")
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
    assert ledger.balance("platform:delivery") == 0
    assert ledger.balance(ledger.shop_payable(shop.id)[0]) == 0
