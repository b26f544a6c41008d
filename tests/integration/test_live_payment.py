"""A card payment confirmed by the webhook localstripe really signs and sends.

The app is served over HTTP; localstripe posts its payment_intent.succeeded event
(about a second after the confirmation) to the live server, which must accept the
signature and mark the order paid.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Role, StripeEvent
from shop.models import Order, OrderStatus
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    give_credit,
)
from tests.helpers import login
from tests.shop.test_order_flow import add_to_basket, checkout, pay_with_card

from .conftest import wait_for

pytestmark = pytest.mark.integration

WEBHOOK_TIMEOUT = 10.0


def order_status(order_id: int) -> OrderStatus | None:
    db.session.rollback()  # see what the live server committed
    return db.session.scalar(select(Order.status).where(Order.id == order_id))


def test_card_payment_is_confirmed_by_localstripes_signed_webhook(
    committed_app: Flask, committed_client: FlaskClient, live_server: str
) -> None:
    commune = CommuneFactory(name="Tonneins", slug="tonneins")
    shop = ShopFactory(commune=commune, name="La Bouquinerie du Port")
    book = VariantFactory(product__shop=shop, product__name="Roman", price_cents=1990, stock=3)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()

    with urllib.request.urlopen(f"{live_server}/", timeout=5) as home:  # noqa: S310 - loopback
        assert home.status == 200
        assert "La Bouquinerie du Port" in home.read().decode()

    client = committed_client
    login(client, resident.email, DEFAULT_PASSWORD)
    assert add_to_basket(client, "/panier", book.id, 2).status_code == 302
    response, _ = checkout(client, [shop])
    assert response.status_code == 302, response.text
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    assert order is not None and order.status is OrderStatus.PENDING_PAYMENT

    result = pay_with_card(client, order)
    assert result.status_code == 200 and result.json["status"] == "succeeded"

    wait_for(
        lambda: order_status(order.id) is OrderStatus.PAID,
        WEBHOOK_TIMEOUT,
        "localstripe's webhook to mark the order paid",
    )
    intent_id = order.payments[0].intent_id
    event = db.session.scalar(select(StripeEvent).where(StripeEvent.object_id == intent_id))
    assert event is not None
    assert event.type == "payment_intent.succeeded" and event.outcome == "paid"
    assert ledger.balance("stripe:clearing") == 2 * 1990


def test_card_part_of_a_wallet_order_is_confirmed_by_the_signed_webhook(
    committed_app: Flask, committed_client: FlaskClient, live_server: str
) -> None:
    """Credit pays 5,00 €: localstripe charges the card 34,80 € and its webhook, for
    that amount, pays the order; the credit held for it pays the shop the rest."""
    shop = ShopFactory(commune=CommuneFactory(), name="La Bouquinerie du Port")
    book = VariantFactory(product__shop=shop, product__name="Roman", price_cents=1990, stock=3)
    resident = UserFactory(roles=[Role.RESIDENT])
    give_credit(resident, 500)
    db.session.commit()

    client = committed_client
    login(client, resident.email, DEFAULT_PASSWORD)
    assert add_to_basket(client, "/panier", book.id, 2).status_code == 302
    page = client.get("/commande").text
    assert 'name="use_wallet"' in page
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/commande",
        data={
            "csrf_token": token,
            "checkout_key": key,
            "name": "Camille Martin",
            "email": "camille@example.org",
            "phone": "06 12 34 56 78",
            f"fulfilment-{shop.id}": "click_and_collect",
            "use_wallet": "y",
        },
    )
    assert response.status_code == 302, response.text
    order = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    assert order is not None and (order.wallet_cents, order.card_cents) == (500, 3480)

    result = pay_with_card(client, order)
    assert result.status_code == 200 and result.json["status"] == "succeeded"
    wait_for(
        lambda: order_status(order.id) is OrderStatus.PAID,
        WEBHOOK_TIMEOUT,
        "localstripe's webhook to mark the order paid",
    )
    assert ledger.balance("stripe:clearing") == 3480
    assert ledger.balance(ledger.WALLET_HELD[0]) == 0
    assert ledger.wallet_credit(resident.id) == 0
    commission = ledger.balance("platform:commission") + ledger.balance("platform:vat-collected")
    assert ledger.balance(ledger.shop_payable(shop.id)[0]) == -(3980 + commission)
