"""Fixtures of the Cityzens' tests: a shop with two products, two Cityzens who
recommend the book, a buyer; orders placed with the real place_order (its
order_placed event included) and paid through the payment webhook's handler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from ambassadors import operations as cz
from ambassadors.models import Attribution, Recommendation
from ambassadors.operations import VISITOR_COOKIE
from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerEntry, Role, User, utcnow
from shop.models import Order, SubOrder, SubOrderStatus
from shop.operations.orders import transition
from tests.factories import CommuneFactory, ShopFactory, UserFactory, VariantFactory
from tests.helpers import fake_payment_provider, place_click_and_collect, succeed_payment

S = SubOrderStatus


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """No localstripe call: intents and refunds are made up (the webhook's handler
    and the ledger are the real ones)."""
    fake_payment_provider(monkeypatch, "cz")


def make_cityzen(name: str) -> tuple[User, Any]:
    user = UserFactory(roles=[Role.RESIDENT])
    return user, cz.opt_in(user, name, True)


@pytest.fixture
def world(app: Flask, fake_provider: None) -> dict[str, Any]:
    commune = CommuneFactory(name="Marmande", slug="marmande")
    shop = ShopFactory(commune=commune, name="La Bouquinerie")
    book = VariantFactory(product__shop=shop, product__name="Roman", price_cents=1990, stock=50)
    pen = VariantFactory(product__shop=shop, product__name="Stylo", price_cents=650, stock=50)
    alice, alice_cz = make_cityzen("Alice des livres")
    bob, bob_cz = make_cityzen("Bob")
    rec_alice = cz.recommend(alice_cz, book.product_id, "Un roman qu'on ne lâche pas.")
    rec_bob = cz.recommend(bob_cz, book.product_id, "Très bien.")
    buyer = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    return {
        "shop": shop,
        "book": book,
        "pen": pen,
        "alice": alice,
        "bob": bob,
        "rec_alice": rec_alice,
        "rec_bob": rec_bob,
        "buyer": buyer,
    }


def click(
    rec: Recommendation, visitor: str | None = None, user: User | None = None, ago_days: float = 0
) -> None:
    cz.record_click(rec.code, visitor, user, now=utcnow() - timedelta(days=ago_days))
    db.session.flush()


def place(
    app: Flask, buyer: User, items: list[tuple[Any, int]], visitor: str | None = None
) -> Order:
    """The real place_order, in a request carrying the browser's visitor cookie."""
    headers = {"Cookie": f"{VISITOR_COOKIE}={visitor}"} if visitor else {}
    with app.test_request_context("/commande", method="POST", headers=headers):
        order = place_click_and_collect(buyer, items)
    db.session.flush()
    return order


def pay(order: Order) -> None:
    succeed_payment(order)
    db.session.flush()


def fulfil(sub: SubOrder) -> None:
    """Accepted, ready, collected: the real transitions (suborder_fulfilled sent)."""
    for status in (S.ACCEPTED, S.READY, S.COLLECTED):
        transition(sub, status, None, "system")
    db.session.flush()


def attributions(order: Order) -> list[Attribution]:
    sub_ids = [s.id for s in order.sub_orders]
    return list(
        db.session.scalars(
            select(Attribution)
            .where(Attribution.sub_order_id.in_(sub_ids))
            .order_by(Attribution.id)
        )
    )


def wallet(user: User) -> int:
    return ledger.wallet_credit(user.id)


def wallet_entries_sum(user: User) -> int:
    return sum(m.amount_cents for m in cz.wallet_movements(user.id, limit=10_000))


def all_entries_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))


def later(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


@contextmanager
def config(app: Flask, **values: Any) -> Iterator[None]:
    saved = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)
