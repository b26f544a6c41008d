"""Refunds through localstripe, full and partial, and the ledger to the cent:
commission booked at payment (rounded per line, VAT on it), reversed exactly."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import LedgerEntry, LedgerTransaction, Role, Territory, utcnow
from marketplace.money import apply_rate
from marketplace.payments import PaymentError, gateway
from shop.models import Order, OrderStatus, Refund, SubOrderStatus
from shop.operations import refunds as refund_ops
from shop.operations.orders import cancel_uncollected
from shop.operations.reservations import release_order
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, VariantFactory, add_staff
from tests.helpers import csrf_token, login
from tests.shop import test_orders
from tests.shop.test_order_flow import post_webhook, stripe_event_for
from tests.shop.test_orders import (
    QUEUE,
    fresh,
    logout,
    place_order,
    place_paid_order,
    staff_post,
)

# Fixtures shared with the order tests.
paid = test_orders.paid
two_shops = test_orders.two_shops

S = SubOrderStatus
COMMISSION = refund_ops.PLATFORM_COMMISSION[0]
VAT = refund_ops.VAT_COLLECTED[0]


def all_entries_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))


def payable(shop: Any) -> int:
    return ledger.balance(ledger.shop_payable(shop.id)[0])


def stripe_refund(refund: Refund) -> Any:
    return gateway().client.v1.refunds.retrieve(refund.provider_refund_id)


def test_payment_books_commission_per_line_with_vat(app, client, paid):
    # Book: 2 × 19,90 = 39,80 → 5.5 % = 2,189 → 2,19 HT, VAT 20 % 0,438 → 0,44.
    # Cheese: 6,50 → 0,3575 → 0,36 HT, VAT 0,072 → 0,07.
    sub_a, sub_b = paid["sub_a"], paid["sub_b"]
    assert (sub_a.commission_ht_cents, sub_a.commission_vat_cents) == (219, 44)
    assert (sub_b.commission_ht_cents, sub_b.commission_vat_cents) == (36, 7)
    assert (sub_a.commission_rate_bp, sub_a.commission_vat_bp) == (550, 2000)
    assert ledger.balance("stripe:clearing") == 4630
    assert payable(paid["a"]) == -(3980 - 263)
    assert payable(paid["b"]) == -(650 - 43)
    assert ledger.balance(COMMISSION) == -(219 + 36)
    assert ledger.balance(VAT) == -(44 + 7)
    assert all_entries_sum() == 0


def test_partial_then_full_refund_through_the_queue(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    page = client.get(QUEUE).text
    assert "Rembourser (reste 39,80" in page.replace("\u202f", " ").replace("\xa0", " ")

    # One of the two books: 19,90, commission 1,09 HT + 0,22 VAT reversed.
    line = sub.lines[0]
    response = staff_post(client, sub, "rembourser", line_id=line.id, quantity=1, reason="abîmé")
    assert response.status_code == 303
    first = db.session.scalars(select(Refund).where(Refund.sub_order_id == sub.id)).one()
    assert (first.status, first.amount_cents, first.reason) == ("succeeded", 1990, "abîmé")
    assert (first.commission_ht_cents, first.commission_vat_cents) == (109, 22)
    assert first.actor_id == paid["owner_a"].id and first.idempotency_key.endswith("-1")
    assert stripe_refund(first).amount == 1990
    assert stripe_refund(first).payment_intent == paid["order"].payments[0].intent_id
    assert fresh(sub).status is S.PAID  # partly refunded, still to prepare
    # What the shop should receive for the book left: 19,90 − (1,10 + 0,22).
    assert payable(paid["a"]) == -(1990 - (219 - 109) - (44 - 22)) == -1858
    assert all_entries_sum() == 0

    # 10,00 € more, by amount.
    assert staff_post(client, sub, "rembourser", amount="10,00").status_code == 303
    # Over-refund: only 9,90 remain.
    assert staff_post(client, sub, "rembourser", amount="10,00").status_code == 303
    assert "Au plus 9,90\xa0€ restent remboursables" in client.get(QUEUE).text
    over = client.post(
        f"{QUEUE}{sub.id}/rembourser",
        data={"amount": "9,91", "csrf_token": csrf_token(client, "/")},
        headers={"Accept": "application/json"},
    )
    assert over.status_code == 422
    assert refund_ops.refundable_cents(fresh(sub)) == 990

    # The rest: fully refunded.
    assert staff_post(client, sub, "rembourser", amount="9,90").status_code == 303
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    refunds = db.session.scalars(
        select(Refund).where(Refund.sub_order_id == sub.id).order_by(Refund.id)
    ).all()
    assert [r.amount_cents for r in refunds] == [1990, 1000, 990]
    assert sum(r.commission_ht_cents for r in refunds) == 219
    assert sum(r.commission_vat_cents for r in refunds) == 44
    assert all(stripe_refund(r).amount == r.amount_cents for r in refunds)
    assert payable(paid["a"]) == 0
    assert ledger.balance(COMMISSION) == -36 and ledger.balance(VAT) == -7  # shop b's
    assert payable(paid["b"]) == -607
    assert ledger.balance("stripe:clearing") == 650
    assert all_entries_sum() == 0
    # Nothing more to refund.
    with pytest.raises(refund_ops.TransitionError):
        refund_ops.refund_by_shop(sub, paid["owner_a"], amount_cents=1)


def test_bad_refund_input_is_refused_and_nothing_is_sent(app, client, paid):
    sub, other = paid["sub_a"], paid["sub_b"]
    owner = paid["owner_a"]
    login(client, owner.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/")
    bad = [
        {"amount": "0"},
        {"amount": "-1"},
        {"amount": "douze"},
        {"amount": "39,81"},
        {"line_id": str(other.lines[0].id), "quantity": "1"},
        {"line_id": str(sub.lines[0].id), "quantity": "3"},
        {"line_id": str(sub.lines[0].id), "quantity": "0"},
        {"line_id": "x", "quantity": "1"},
        {},
    ]
    for data in bad:
        response = client.post(
            f"{QUEUE}{sub.id}/rembourser",
            data={**data, "csrf_token": token},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 422, (data, response.json)
        assert response.json["message"]
    # Another shop's staff, a resident: not found / forbidden.
    logout(client)
    login(client, paid["owner_b"].email, DEFAULT_PASSWORD)
    assert staff_post(client, sub, "rembourser", amount="1,00").status_code == 404
    with pytest.raises(refund_ops.NotAllowed):
        refund_ops.refund_by_shop(sub, paid["owner_b"], amount_cents=100)
    with pytest.raises(refund_ops.NotAllowed):
        refund_ops.refund_by_shop(sub, paid["resident"], amount_cents=100)
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
    assert db.session.scalar(select(func.count()).where(LedgerTransaction.kind == "refund")) == 0


@pytest.fixture
def awkward(app, client):
    """Lines whose commissions round differently: 3 × 3,33, 1 × 0,01, 2 × 19,99."""
    shop = ShopFactory(name="Quincaillerie")
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    a = VariantFactory(product__shop=shop, price_cents=333, stock=10)
    b = VariantFactory(product__shop=shop, price_cents=1, stock=10)
    c = VariantFactory(product__shop=shop, price_cents=1999, stock=10)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    order = place_paid_order(app, client, resident, [(a, 3), (b, 1), (c, 2)])
    return {"shop": shop, "owner": owner, "order": order, "sub": order.sub_orders[0]}


def test_commission_reversal_is_exact_whatever_the_steps(app, client, awkward):
    sub, owner, shop = awkward["sub"], awkward["owner"], awkward["shop"]
    lines = {line.unit_price_cents: line for line in sub.lines}
    per_line = [apply_rate(line.total_cents, 550) for line in sub.lines]
    assert per_line == [55, 0, 220]  # 54,945 → 55 (half up); 0,055 → 0; 219,89 → 220
    booked_ht, booked_vat = sub.commission_ht_cents, sub.commission_vat_cents
    assert (booked_ht, booked_vat) == (275, 55)
    total = sub.total_cents
    assert payable(shop) == -(total - 330)
    # The collectivité changes its rate afterwards: the frozen one still applies.
    territory = db.session.get(Territory, awkward["order"].territory_id)
    territory.commission_rate_bp = 1000
    db.session.flush()

    steps = [
        {"lines": {lines[333].id: 1}},
        {"amount_cents": 7},
        {"lines": {lines[1].id: 1}},
        {"amount_cents": 1234},
        {"lines": {lines[1999].id: 1}},
        {"amount_cents": 1},
    ]
    refunded = reversed_ht = reversed_vat = 0
    for step in steps:
        row = refund_ops.refund_by_shop(sub, owner, **step)
        refunded += row.amount_cents
        reversed_ht += row.commission_ht_cents
        reversed_vat += row.commission_vat_cents
        assert sum(row.allocation.values()) == row.amount_cents
        assert all_entries_sum() == 0
        # The shop is owed what is left, less the commission left.
        left_ttc = (booked_ht - reversed_ht) + (booked_vat - reversed_vat)
        assert payable(shop) == -((total - refunded) - left_ttc)
        assert 0 <= reversed_ht <= booked_ht and 0 <= reversed_vat <= booked_vat
    assert sub.status is S.PAID
    last = refund_ops.refund_remaining(sub, owner, "shop", "solde")
    assert last is not None and sub.status is S.REFUNDED
    reversed_ht += last.commission_ht_cents
    reversed_vat += last.commission_vat_cents
    assert (reversed_ht, reversed_vat) == (booked_ht, booked_vat)
    assert payable(shop) == 0
    assert ledger.balance(COMMISSION) == 0 and ledger.balance(VAT) == 0
    assert ledger.balance("stripe:clearing") == 0
    assert all_entries_sum() == 0
    assert refund_ops.refund_remaining(sub, owner, "shop", "encore") is None


def test_late_success_after_cancellation_is_refunded_once(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    order = place_order(client, resident, [(two_shops["book"], 1), (two_shops["cheese"], 2)])
    # The reservation expired before Stripe's webhook arrived: order cancelled.
    assert release_order(order, "réservation expirée")
    db.session.commit()
    payload = stripe_event_for(order.payments[0].intent_id)
    first = post_webhook(client, app, payload)
    assert first.json["outcome"] == "late-payment-refunded"
    assert post_webhook(client, app, payload).json["outcome"] == "duplicate"
    other_id = payload.replace('"id": "evt_', '"id": "evt_again_', 1)
    assert post_webhook(client, app, other_id).json["outcome"] == "already-paid"

    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status is OrderStatus.CANCELLED  # not resurrected
    assert {s.status for s in order.sub_orders} == {S.REFUNDED}
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    assert sorted(r.amount_cents for r in refunds) == [1300, 1990]
    assert sum(stripe_refund(r).amount for r in refunds) == order.total_cents == 3290
    listed = gateway().client.v1.refunds.list(
        params={"payment_intent": order.payments[0].intent_id}
    )
    assert sum(r.amount for r in listed.data) == 3290
    assert ledger.balance("stripe:clearing") == 0
    assert payable(two_shops["a"]) == 0 and payable(two_shops["b"]) == 0
    assert ledger.balance(COMMISSION) == 0
    assert all_entries_sum() == 0


def test_failed_refund_is_kept_and_retried(app, client, paid, monkeypatch):
    sub = paid["sub_b"]

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise PaymentError("Le remboursement a échoué.")

    monkeypatch.setattr(gateway(), "refund", refuse)
    login(client, paid["resident"].email, DEFAULT_PASSWORD)
    url = f"/commandes/{paid['order'].public_id}/{sub.id}/annuler"
    assert client.post(url, data={"csrf_token": csrf_token(client, "/")}).status_code == 303
    sub = fresh(sub)
    assert sub.status is S.CANCELLED
    failed = db.session.scalars(select(Refund).where(Refund.sub_order_id == sub.id)).one()
    assert failed.status == "failed" and failed.idempotency_key.endswith("-1")
    assert payable(paid["b"]) == -607  # nothing reversed
    monkeypatch.undo()
    assert cancel_uncollected(utcnow()) == []  # the scheduled pass also retries refunds
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    done = db.session.scalars(
        select(Refund).where(Refund.sub_order_id == sub.id, Refund.status == "succeeded")
    ).one()
    assert done.idempotency_key.endswith("-2") and stripe_refund(done).amount == 650
    assert payable(paid["b"]) == 0
    assert all_entries_sum() == 0


@pytest.mark.parametrize("failed", [False, True])
def test_a_delivered_or_failed_delivery_is_refunded_from_the_queue(app, client, paid, failed):
    """A parcel returned damaged, or a delivery that could not be made: the shop refunds."""
    from marketplace.models import FulfilmentMethod
    from shop.operations import orders as order_ops

    sub, owner = paid["sub_a"], paid["owner_a"]
    sub.fulfilment_method = FulfilmentMethod.MERCHANT_DELIVERY
    sub.delivery_address = "12 rue de la Paix, 47200 Marmande"
    order_ops.accept(sub, owner)
    order_ops.mark_ready(sub, owner)
    order_ops.send_out(sub, owner)
    if failed:
        order_ops.report_delivery_failed(sub, owner, "absent")
    else:
        order_ops.mark_delivered(sub, owner)
    db.session.commit()
    login(client, owner.email, DEFAULT_PASSWORD)
    page = client.get(QUEUE).text.replace("\u202f", " ").replace("\xa0", " ")
    assert "Rembourser (reste 39,80" in page

    assert staff_post(client, sub, "rembourser", amount="39,80").status_code == 303
    assert fresh(sub).status is S.REFUNDED
    refund = db.session.scalars(select(Refund).where(Refund.sub_order_id == sub.id)).one()
    assert stripe_refund(refund).amount == 3980
    assert payable(paid["a"]) == 0
    assert all_entries_sum() == 0
