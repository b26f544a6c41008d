"""Concurrent checkouts on PostgreSQL: the last units are sold once, stock never
goes negative, and a refused checkout leaves nothing behind.

Each thread runs the whole checkout (`ops.place_order`) in its own app context, so
it has its own session and its own database connection; a barrier starts them
together so their stock UPDATEs really race.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role, User, utcnow
from marketplace.payments import gateway
from merchants.models import Variant
from shop import operations as ops
from shop.models import (
    Basket,
    BasketLine,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    SubOrder,
    SubOrderEvent,
)
from tests.factories import CommuneFactory, ShopFactory, UserFactory, VariantFactory

JOIN_TIMEOUT = 60


@dataclass
class Outcomes:
    orders: list[uuid.UUID] = field(default_factory=list)
    refused: list[ops.CheckoutError] = field(default_factory=list)
    crashed: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _setup(stock: int, buyers: int) -> tuple[int, int, list[int]]:
    """One shop, one variant with `stock` units, `buyers` residents each with one
    unit in their basket; everything committed so other connections see it."""
    shop = ShopFactory(commune=CommuneFactory())
    variant = VariantFactory(product__shop=shop, product__name="Dernier roman", stock=stock)
    user_ids = []
    for _ in range(buyers):
        user = UserFactory(roles=[Role.RESIDENT])
        basket = Basket(user_id=user.id)
        basket.lines.append(BasketLine(variant_id=variant.id, quantity=1))
        db.session.add(basket)
        user_ids.append(user.id)
    db.session.commit()
    return shop.id, variant.id, user_ids


def _checkout(
    app: Flask, user_id: int, shop_id: int, barrier: threading.Barrier, out: Outcomes
) -> None:
    """A whole checkout as the view does it: place, then commit or roll back."""
    try:
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                assert user is not None
                basket = ops.user_basket(user)
                contact = ops.Contact("Camille Martin", user.email, "0612345678")
                choices = {shop_id: FulfilmentMethod.CLICK_AND_COLLECT}
                db.session.commit()  # hand the connection back while waiting
                barrier.wait(timeout=JOIN_TIMEOUT)
                order = ops.place_order(user, basket, choices, contact, uuid.uuid4())
                public_id = order.public_id
                db.session.commit()
            except ops.CheckoutError as exc:
                db.session.rollback()
                with out.lock:
                    out.refused.append(exc)
            else:
                with out.lock:
                    out.orders.append(public_id)
            finally:
                db.session.remove()
    except BaseException as exc:  # reported by the test, never lost in the thread
        barrier.abort()
        with out.lock:
            out.crashed.append(exc)


def _race(app: Flask, shop_id: int, user_ids: list[int]) -> Outcomes:
    out = Outcomes()
    barrier = threading.Barrier(len(user_ids))
    threads = [
        threading.Thread(target=_checkout, args=(app, uid, shop_id, barrier, out), name=f"c{uid}")
        for uid in user_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a checkout is stuck (deadlock?)"
    assert not out.crashed, out.crashed
    return out


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _assert_consistent(sold: int) -> None:
    """Exactly `sold` orders, each complete; nothing left by the refused ones."""
    db.session.expire_all()
    assert _count(Order) == sold
    assert _count(SubOrder) == sold  # one shop: one sub-order per order, no orphans
    assert _count(OrderLine) == sold
    assert _count(Payment) == sold
    assert _count(SubOrderEvent) == sold
    orphans = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SubOrder)
        .outerjoin(Order, SubOrder.order_id == Order.id)
        .where(Order.id.is_(None))
    )
    assert orphans == 0
    assert db.session.scalar(sa.text("SELECT min(stock) FROM variant")) >= 0


def test_two_checkouts_for_the_last_unit_sell_it_once(committed_app):
    shop_id, variant_id, user_ids = _setup(stock=1, buyers=2)

    out = _race(committed_app, shop_id, user_ids)

    assert len(out.orders) == 1, out.refused
    assert len(out.refused) == 1
    assert "Stock insuffisant" in out.refused[0].problems["basket"]
    _assert_consistent(sold=1)
    assert db.session.get(Variant, variant_id).stock == 0
    winner = db.session.scalar(sa.select(Order).where(Order.public_id == out.orders[0]))
    loser_id = next(uid for uid in user_ids if uid != winner.user_id)
    # The loser's transaction was rolled back: the basket is still there to adjust.
    loser_lines = db.session.scalars(
        sa.select(BasketLine).join(Basket).where(Basket.user_id == loser_id)
    ).all()
    assert [(ln.variant_id, ln.quantity) for ln in loser_lines] == [(variant_id, 1)]
    winner_lines = db.session.scalars(
        sa.select(BasketLine).join(Basket).where(Basket.user_id == winner.user_id)
    ).all()
    assert winner_lines == []


def test_eight_checkouts_for_three_units_make_three_orders(committed_app):
    shop_id, variant_id, user_ids = _setup(stock=3, buyers=8)

    out = _race(committed_app, shop_id, user_ids)

    assert len(out.orders) == 3, out.refused
    assert len(out.refused) == 5
    _assert_consistent(sold=3)
    assert db.session.get(Variant, variant_id).stock == 0
    buyers = db.session.scalars(sa.select(Order.user_id)).all()
    assert len(set(buyers)) == 3


def _pay(app: Flask, public_id: uuid.UUID) -> None:
    """Card confirmed at Stripe, then Stripe's webhook event applied."""
    import json

    from tests.shop.test_order_flow import stripe_event_for

    with app.app_context():
        order = db.session.scalar(sa.select(Order).where(Order.public_id == public_id))
        intent_id = order.payments[0].intent_id
        method = gateway().create_test_card_method(
            {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        )
        assert gateway().confirm_with(intent_id, method).status == "succeeded"
        assert ops.handle_stripe_event(json.loads(stripe_event_for(intent_id))) == "paid"
        db.session.commit()
        db.session.remove()


def test_fifty_checkouts_for_the_last_ten_units(committed_app):
    """The issue's figure: 50 concurrent checkouts, 10 units → exactly 10 paid orders."""
    shop_id, variant_id, user_ids = _setup(stock=10, buyers=50)

    out = _race(committed_app, shop_id, user_ids)

    assert len(out.orders) == 10, out.refused
    assert len(out.refused) == 40
    _assert_consistent(sold=10)
    for public_id in out.orders:
        _pay(committed_app, public_id)
    db.session.expire_all()
    assert db.session.get(Variant, variant_id).stock == 0
    statuses = db.session.scalars(sa.select(Order.status)).all()
    assert statuses == [OrderStatus.PAID] * 10
    # No orphan reservation: nothing is left pending to expire.
    assert ops.release_expired(utcnow() + timedelta(days=1)) == 0
