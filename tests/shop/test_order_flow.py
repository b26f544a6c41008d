"""The first real order, end to end through the pages, paid through localstripe and
confirmed by a signed webhook."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Role, StripeEvent
from marketplace.payments import gateway
from merchants.models import Variant
from shop.models import Order, OrderStatus, SubOrder, SubOrderStatus
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import csrf_token, form_post, login, signed_webhook


@pytest.fixture
def two_shops(app):
    commune = CommuneFactory(name="Marmande", slug="marmande")
    shop_a = ShopFactory(commune=commune, name="La Bouquinerie")
    shop_b = ShopFactory(commune=commune, name="Fromagerie du Marché")
    book = VariantFactory(product__shop=shop_a, product__name="Roman", price_cents=1990, stock=3)
    cheese = VariantFactory(product__shop=shop_b, product__name="Tomme", price_cents=650, stock=5)
    owner_a = UserFactory(roles=[Role.MERCHANT])
    owner_b = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop_a, owner_a)
    add_staff(shop_b, owner_b)
    db.session.commit()
    return {
        "a": shop_a,
        "b": shop_b,
        "book": book,
        "cheese": cheese,
        "owner_a": owner_a,
        "owner_b": owner_b,
    }


def add_to_basket(client, page: str, variant_id: int, quantity: int):
    return form_post(
        client,
        page,
        "/panier",
        {"variant_id": variant_id, "quantity": quantity, "mode": "add", "next": page},
    )


def checkout(client, shops):
    page = client.get("/commande")
    assert page.status_code == 200
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    data = {
        "csrf_token": token,
        "checkout_key": key,
        "name": "Camille Martin",
        "email": "camille@example.org",
        "phone": "06 12 34 56 78",
    }
    for shop in shops:
        data[f"fulfilment-{shop.id}"] = "click_and_collect"
    return client.post("/commande", data=data), data


def pay_with_card(client, order: Order, number: str = "4242424242424242"):
    """What the payment page's script does: tokenise the test card, then confirm."""
    page = client.get(f"/commandes/{order.public_id}/paiement")
    token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    card_url = re.search(r'data-test-card-url="([^"]+)"', page.text).group(1)
    card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = client.post(card_url, json=card, headers={"X-CSRFToken": token})
    assert method.status_code == 200, method.json
    return client.post(
        f"/commandes/{order.public_id}/paiement",
        json={"payment_method": method.json["paymentMethod"]["id"]},
        headers={"X-CSRFToken": token},
    )


def stripe_event_for(intent_id: str, event_type: str = "payment_intent.succeeded") -> str:
    """The event localstripe recorded for this intent, as it would POST it.

    Every page of the event list is read: the session's localstripe keeps them all.
    """
    params: dict[str, object] = {"limit": 100}
    while True:
        events = gateway().client.v1.events.list(params=params)  # type: ignore[arg-type]
        for event in events.data:
            if event.type == event_type and event.data.object["id"] == intent_id:
                return json.dumps(event.to_dict())
        if not events.has_more or not events.data:
            raise AssertionError(f"no {event_type} for {intent_id}")
        params = {"limit": 100, "starting_after": events.data[-1].id}


def post_webhook(client, app, payload: str, secret: str | None = None):
    headers = signed_webhook(payload, secret or app.config["STRIPE_WEBHOOK_SECRET"])
    return client.post("/paiements/stripe/webhook", data=payload, headers=headers)


def test_first_order_end_to_end(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()

    home = client.get("/")
    assert "La Bouquinerie" in home.text and "Fromagerie du Marché" in home.text
    assert "Marmande" in home.text
    shop_page = f"/boutiques/{two_shops['a'].slug}"
    assert "Roman" in client.get(shop_page).text

    # Anonymous basket, merged at log-in
    assert add_to_basket(client, shop_page, two_shops["book"].id, 2).status_code == 302
    login(client, resident.email, DEFAULT_PASSWORD)
    other_page = f"/boutiques/{two_shops['b'].slug}"
    assert add_to_basket(client, other_page, two_shops["cheese"].id, 1).status_code == 302
    basket = client.get("/panier").text
    assert "La Bouquinerie" in basket and "Fromagerie du Marché" in basket

    response, _ = checkout(client, [two_shops["a"], two_shops["b"]])
    assert response.status_code == 302, response.text
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    assert order.total_cents == 2 * 1990 + 650
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert len(order.sub_orders) == 2
    # Stock is taken at checkout so the last unit can never be sold twice.
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["book"].id).stock == 1

    result = pay_with_card(client, order)
    assert result.status_code == 200 and result.json["status"] == "succeeded"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.PENDING_PAYMENT  # not yet

    payload = stripe_event_for(order.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "paid"
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status is OrderStatus.PAID
    assert {s.status for s in order.sub_orders} == {SubOrderStatus.PAID}
    assert all(s.ready_not_before is not None for s in order.sub_orders)
    assert ledger.balance("stripe:clearing") == order.total_cents
    # 39,80 € of books minus the commission: 2,19 € HT + 0,44 € VAT
    assert ledger.balance(ledger.shop_payable(two_shops["a"].id)[0]) == -3717

    detail = client.get(f"/commandes/{order.public_id}").text
    assert "Paiement confirmé" in detail

    # Each shop's staff sees its own sub-order and not the other's.
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    login(client, two_shops["owner_a"].email, DEFAULT_PASSWORD)
    queue = client.get("/boutique/commandes/").text
    assert "Roman" in queue and "Tomme" not in queue
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    login(client, two_shops["owner_b"].email, DEFAULT_PASSWORD)
    queue = client.get("/boutique/commandes/").text
    assert "Tomme" in queue and "Roman" not in queue


@pytest.fixture
def paid_setup(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    response, _ = checkout(client, [two_shops["a"]])
    assert response.status_code == 302
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    pay_with_card(client, order)
    return order


def test_payment_intent_carries_the_orders_transfer_group(app, client, paid_setup):
    """Separate charges and transfers: the charge is grouped by its order."""
    intent = gateway().client.v1.payment_intents.retrieve(paid_setup.payments[0].intent_id)
    assert intent.transfer_group == f"order-{paid_setup.public_id}"
    assert intent.amount == paid_setup.total_cents


def test_webhook_with_wrong_signature_changes_nothing(app, client, paid_setup):
    payload = stripe_event_for(paid_setup.payments[0].intent_id)
    response = post_webhook(client, app, payload, secret="whsec_not_the_right_one")
    assert response.status_code == 400
    tampered = payload.replace('"succeeded"', '"succeeded" ', 1)
    headers = signed_webhook(payload, app.config["STRIPE_WEBHOOK_SECRET"])
    assert (
        client.post("/paiements/stripe/webhook", data=tampered, headers=headers).status_code == 400
    )
    old = signed_webhook(payload, app.config["STRIPE_WEBHOOK_SECRET"], timestamp=1_000_000_000)
    assert client.post("/paiements/stripe/webhook", data=payload, headers=old).status_code == 400
    db.session.expire_all()
    assert db.session.get(Order, paid_setup.id).status is OrderStatus.PENDING_PAYMENT
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_webhook_sent_twice_changes_state_once(app, client, paid_setup):
    payload = stripe_event_for(paid_setup.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "paid"
    assert post_webhook(client, app, payload).json["outcome"] == "duplicate"
    sub = db.session.scalar(select(SubOrder).where(SubOrder.order_id == paid_setup.id))
    paid_events = [e for e in sub.history if e.to_status is SubOrderStatus.PAID]
    assert len(paid_events) == 1
    assert ledger.balance("stripe:clearing") == paid_setup.total_cents


def test_webhook_for_unknown_payment_is_ignored(app, client, caplog):
    intent = gateway().create_intent(500, {"order": "elsewhere"}, key="unknown-test")
    payload = json.dumps(
        {
            "id": "evt_unknown_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent.id, "object": "payment_intent", "amount": 500}},
        }
    )
    response = post_webhook(client, app, payload)
    assert response.status_code == 200
    assert response.json["outcome"] == "unknown-payment"
    assert "unknown payment intent" in caplog.text
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_declined_card_releases_stock_at_once_and_keeps_the_basket(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["cheese"].id, 2)
    checkout(client, [two_shops["b"]])
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 3
    result = pay_with_card(client, order, number="4000000000000341")
    assert result.json["status"] == "requires_payment_method"
    assert result.json["error"]
    assert result.json["next"] == "/panier"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.CANCELLED
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 5
    basket = client.get("/panier").text
    assert "Tomme" in basket
    # localstripe's payment_failed webhook for the same intent changes nothing more.
    payload = stripe_event_for(order.payments[0].intent_id, "payment_intent.payment_failed")
    post_webhook(client, app, payload)
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 5


def test_checkout_without_fulfilment_choice_names_the_shop(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    page = client.get("/commande")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/commande",
        data={
            "csrf_token": token,
            "checkout_key": key,
            "name": "C M",
            "email": "not-an-email",
            "phone": "12",
        },
    )
    assert response.status_code == 422
    assert "Adresse e-mail invalide" in response.text
    assert "Numéro invalide" in response.text
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["book"].id).stock == 3


def test_double_submitted_checkout_makes_one_order(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    first, data = checkout(client, [two_shops["a"]])
    second = client.post("/commande", data=data)
    assert first.status_code == 302 and second.status_code in (302, 422)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["book"].id).stock == 2


def test_other_residents_order_is_not_found(app, client, paid_setup):
    stranger = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    login(client, stranger.email, DEFAULT_PASSWORD)
    assert client.get(f"/commandes/{paid_setup.public_id}").status_code == 404
    assert client.get(f"/commandes/{paid_setup.public_id}/paiement").status_code == 404


def test_payment_endpoints_reject_bad_input(app, client, paid_setup):
    token = csrf_token(client, "/")
    bad_card = client.post(
        "/paiements/test/carte",
        json={"number": "4242x", "exp_month": "12", "exp_year": "2034"},
        headers={"X-CSRFToken": token},
    )
    assert bad_card.status_code == 422
    assert set(bad_card.json["errors"]["json"]) == {"number", "cvc"}
    no_method = client.post(
        f"/commandes/{paid_setup.public_id}/paiement",
        json={"payment_method": "not-a-card"},
        headers={"X-CSRFToken": token},
    )
    assert no_method.status_code == 422
    assert "payment_method" in no_method.json["errors"]["json"]
    no_csrf = client.post(
        f"/commandes/{paid_setup.public_id}/paiement", json={"payment_method": "pm_x"}
    )
    assert no_csrf.status_code == 400


def test_test_card_endpoint_exists_only_in_local_mode(app, client, paid_setup):
    app.config["STRIPE_LOCAL"] = False
    try:
        token = csrf_token(client, "/")
        response = client.post(
            "/paiements/test/carte",
            json={
                "number": "4242424242424242",
                "exp_month": "12",
                "exp_year": "2034",
                "cvc": "123",
            },
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 404
    finally:
        app.config["STRIPE_LOCAL"] = True
