"""Checkout rules: reservations expire, changes are shown before paying, 3-D Secure."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role, utcnow
from marketplace.payments import gateway
from merchants.models import Variant
from shop import operations as ops
from shop.models import Order, OrderStatus, SubOrderStatus
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import login
from tests.shop.test_order_flow import (
    add_to_basket,
    checkout,
    pay_with_card,
    post_webhook,
    stripe_event_for,
)


def _resident_with_order(client, shops, quantity=2):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", shops["cheese"].id, quantity)
    response, _ = checkout(client, [shops["b"]])
    assert response.status_code == 302
    return resident, db.session.scalar(select(Order).where(Order.user_id == resident.id))


def test_unpaid_order_is_released_after_the_reservation_expires(app, client, two_shops):
    _, order = _resident_with_order(client, two_shops)
    assert order.expires_at is not None
    assert timedelta(minutes=14) < order.expires_at - order.created_at <= timedelta(minutes=15)
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 3

    assert ops.release_expired(utcnow()) == 0  # not yet
    assert ops.release_expired(order.expires_at + timedelta(seconds=1)) == 1
    db.session.commit()
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status is OrderStatus.CANCELLED
    assert {s.status for s in order.sub_orders} == {SubOrderStatus.CANCELLED}
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 5
    assert gateway().client.v1.payment_intents.retrieve(order.payments[0].intent_id).status == (
        "canceled"
    )
    # Releasing again finds nothing: the task is idempotent.
    assert ops.release_expired(order.expires_at + timedelta(hours=1)) == 0


def test_late_success_after_release_never_resurrects_the_order(app, client, two_shops):
    _, order = _resident_with_order(client, two_shops)
    intent_id = order.payments[0].intent_id
    pay_with_card(client, order)  # paid at Stripe, webhook not yet received
    ops.release_expired(order.expires_at + timedelta(seconds=1))
    db.session.commit()
    payload = stripe_event_for(intent_id)
    post_webhook(client, app, payload)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is not OrderStatus.PAID


def test_price_change_is_shown_before_paying_never_applied_silently(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["cheese"].id, 1)
    page = client.get("/commande")
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)

    variant = db.session.get(Variant, two_shops["cheese"].id)
    variant.price_cents = 790  # the shop raises the price meanwhile
    db.session.commit()

    data = {
        "csrf_token": token,
        "checkout_key": key,
        "name": "Camille Martin",
        "email": "camille@example.org",
        "phone": "06 12 34 56 78",
        f"fulfilment-{two_shops['b'].id}": "click_and_collect",
    }
    refused = client.post("/commande", data=data)
    assert refused.status_code == 422
    assert "Votre panier a changé" in refused.text
    assert "6,50" in refused.text and "7,90" in refused.text
    assert db.session.scalar(select(Order).where(Order.user_id == resident.id)) is None

    accepted = client.post("/commande", data=data)  # seen now: the resident confirms
    assert accepted.status_code == 302
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    assert order.total_cents == 790


def test_stock_drop_is_shown_and_the_quantity_lowered(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["cheese"].id, 4)
    variant = db.session.get(Variant, two_shops["cheese"].id)
    variant.stock = 2
    db.session.commit()
    page = client.get("/commande")
    assert "il n'en reste que 2" in page.text
    basket = client.get("/panier").text
    assert 'value="2"' in basket


def test_three_d_secure_payment_completes_after_authentication(app, client, two_shops):
    _, order = _resident_with_order(client, two_shops, quantity=1)
    result = pay_with_card(client, order, number="4000002760003184")
    assert result.json["status"] == "requires_action"
    secret = result.json["client_secret"]
    assert secret.startswith(order.payments[0].intent_id)
    # What Stripe.js's confirmCardPayment does once the resident authenticates.
    intent_id = order.payments[0].intent_id
    body = urlencode({"key": app.config["STRIPE_PUBLISHABLE_KEY"], "client_secret": secret})
    request = Request(  # noqa: S310 - loopback test server
        f"{app.config['STRIPE_API_BASE']}/v1/payment_intents/{intent_id}/_authenticate?success=true",
        data=body.encode(),
        method="POST",
    )
    with urlopen(request, timeout=5) as response:  # noqa: S310
        assert response.status == 200
    assert post_webhook(client, app, stripe_event_for(intent_id)).json["outcome"] == "paid"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.PAID


def test_release_task_runs_on_schedule_and_gives_stock_back(app, client, two_shops):
    from marketplace.extensions import celery_app
    from shop.tasks import release_expired_reservations

    schedule = celery_app.conf.beat_schedule["shop-release-expired-reservations"]
    assert schedule["task"] == release_expired_reservations.name
    assert schedule["schedule"] <= 60
    _, order = _resident_with_order(client, two_shops)
    order.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert release_expired_reservations.delay().get() == 1
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 5
    assert release_expired_reservations.delay().get() == 0


def test_made_to_order_variants_are_sold_without_stock(app, client, two_shops):
    variant = db.session.get(Variant, two_shops["cheese"].id)
    variant.made_to_order, variant.stock = True, 0
    db.session.commit()
    _, order = _resident_with_order(client, two_shops, quantity=12)
    assert order.total_cents == 12 * 650
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 0
    ops.release_order(db.session.get(Order, order.id), "test")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 0  # nothing to give back


def test_webhook_three_times_and_out_of_order_changes_state_once(app, client, two_shops):
    import json

    from shop.models import SubOrder

    _, order = _resident_with_order(client, two_shops, quantity=1)
    pay_with_card(client, order)
    intent_id = order.payments[0].intent_id
    succeeded = stripe_event_for(intent_id)
    outcomes = [post_webhook(client, app, succeeded).json["outcome"] for _ in range(3)]
    assert outcomes == ["paid", "duplicate", "duplicate"]
    # A stale failure for the same intent arrives after the success (another event id).
    stale = json.loads(succeeded)
    stale.update(id="evt_stale_failure", type="payment_intent.payment_failed")
    assert post_webhook(client, app, json.dumps(stale)).json["outcome"] == "already-paid"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.PAID
    sub = db.session.scalar(select(SubOrder).where(SubOrder.order_id == order.id))
    assert [e.to_status for e in sub.history] == [
        SubOrderStatus.PENDING_PAYMENT,
        SubOrderStatus.PAID,
    ]
    assert db.session.get(Variant, two_shops["cheese"].id).stock == 4
