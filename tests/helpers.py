"""Helpers shared by tests: reading forms as a browser does."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


def csrf_token(client: FlaskClient, path: str) -> str:
    """GET a page and read the CSRF token from its form, as a browser would."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.org"


def signed_webhook(payload: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Stripe (and localstripe) send: t=<time>,v1=HMAC-SHA256(t.payload)."""
    import hashlib
    import hmac
    import time

    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


def login(client: FlaskClient, email: str, password: str) -> None:
    """Log in through the real form, as a resident would."""
    token = csrf_token(client, "/compte/connexion")
    response = client.post(
        "/compte/connexion",
        data={"email": email, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302, main_text(response.text)


def form_post(client: FlaskClient, page: str, action: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    """POST a form found on `page` with its CSRF token."""
    return client.post(action, data={**data, "csrf_token": csrf_token(client, page)})


def main_text(html: str) -> str:
    """The text of a page's <main>, for readable assertion messages."""
    main = html.split('id="main"', 1)[-1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).strip()


def embedded_app(database: Path, **config: object) -> Flask:
    """Another app in the embedded mode: SQLite at `database`, tasks run in-process
    (pair it with the `restore_celery` fixture)."""
    from marketplace import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "CELERY": {"broker_url": "memory://", "task_always_eager": True},
            # The limiter is one object per process: another app must not re-enable it.
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )


def fake_payment_provider(monkeypatch: Any, prefix: str) -> None:
    """TEST ONLY: the payment gateway makes up its intents and refunds instead of
    calling localstripe (the webhook's handler and the ledger stay the real ones),
    for tests that must not add events to the session's localstripe."""
    from marketplace.payments import Intent, gateway

    provider = gateway()

    def create_intent(amount_cents: int, metadata: Any, key: str, **_: Any) -> Intent:
        return Intent(f"pi_{prefix}_{uuid.uuid4().hex[:16]}", "secret", "requires_payment_method")

    def refund(intent_id: str, amount_cents: int, key: str) -> str:
        return f"re_{prefix}_{uuid.uuid4().hex[:16]}"

    monkeypatch.setattr(provider, "create_intent", create_intent)
    monkeypatch.setattr(provider, "refund", refund)


def place_click_and_collect(resident: Any, items: list[tuple[Any, int]]) -> Any:
    """The resident's basket filled with `items` and checked out (click-and-collect
    at every shop) through the real operations; returns the unpaid order."""
    from marketplace.models import FulfilmentMethod
    from shop import operations as ops

    basket = ops.user_basket(resident)
    for variant, quantity in items:
        ops.set_quantity(basket, variant.id, quantity)
    shops = {variant.product.shop_id for variant, _quantity in items}
    return ops.place_order(
        resident,
        basket,
        dict.fromkeys(shops, FulfilmentMethod.CLICK_AND_COLLECT),
        ops.Contact("Camille Martin", "camille@example.org", "06 12 34 56 78"),
        uuid.uuid4(),
    )


def succeed_payment(order: Any) -> None:
    """The payment webhook's handler told that the order's PaymentIntent succeeded."""
    from shop.operations.payments import handle_stripe_event

    payment = order.payments[-1]
    event = {
        "id": f"evt_test_{uuid.uuid4().hex[:16]}",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": payment.intent_id, "amount": payment.amount_cents}},
    }
    assert handle_stripe_event(event) == "paid"
