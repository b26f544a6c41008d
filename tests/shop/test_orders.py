"""The sub-order state machine: every action allowed and refused, by the right and
the wrong actor, recorded with its actor, announced; run through the staff queue and
the resident's order page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from marketplace import events
from marketplace.extensions import db
from marketplace.models import Role
from shop.models import Order, SubOrder, SubOrderStatus
from shop.operations import orders as order_ops
from shop.operations.errors import TransitionError
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import csrf_token, login
from tests.shop.test_order_flow import (  # noqa: F401 - fixture
    add_to_basket,
    checkout,
    pay_with_card,
    post_webhook,
    stripe_event_for,
    two_shops,
)

S = SubOrderStatus
QUEUE = "/boutique/commandes/"


# --- shared by the order, refund and pickup tests ------------------------------------


def logout(client: Any) -> None:
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})


def place_order(client: Any, resident: Any, items: list[tuple[Any, int]]) -> Order:
    """Through the pages: basket, checkout (click-and-collect), card confirmed.

    The order is not paid yet: the webhook has not come."""
    login(client, resident.email, DEFAULT_PASSWORD)
    for variant, quantity in items:
        add_to_basket(client, "/panier", variant.id, quantity)
    shops = {variant.product.shop.id: variant.product.shop for variant, _ in items}
    response, _ = checkout(client, list(shops.values()))
    assert response.status_code == 302, response.text
    order = db.session.scalars(
        select(Order).where(Order.user_id == resident.id).order_by(Order.id.desc())
    ).first()
    assert pay_with_card(client, order).json["status"] == "succeeded"
    return order


def place_paid_order(app: Any, client: Any, resident: Any, items: list[tuple[Any, int]]) -> Order:
    """place_order, then localstripe's signed webhook: paid."""
    order = place_order(client, resident, items)
    payload = stripe_event_for(order.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "paid"
    db.session.expire_all()
    return db.session.get(Order, order.id)


@pytest.fixture
def paid(app, client, two_shops):  # noqa: F811
    """A paid order: 2 books at 19,90 (shop a), 1 cheese at 6,50 (shop b); the
    client is logged out afterwards."""
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    items = [(two_shops["book"], 2), (two_shops["cheese"], 1)]
    order = place_paid_order(app, client, resident, items)
    logout(client)
    subs = {s.shop_id: s for s in order.sub_orders}
    return {
        **two_shops,
        "order": order,
        "resident": resident,
        "sub_a": subs[two_shops["a"].id],
        "sub_b": subs[two_shops["b"].id],
    }


def fresh(sub: SubOrder) -> SubOrder:
    db.session.expire_all()
    found = db.session.get(SubOrder, sub.id)
    assert found is not None
    return found


def staff_post(client: Any, sub: SubOrder, action: str, **data: Any) -> Any:
    token = csrf_token(client, "/")
    return client.post(f"{QUEUE}{sub.id}/{action}", data={**data, "csrf_token": token})


@contextmanager
def captured_events() -> Iterator[list[tuple[str, int, dict[str, Any]]]]:
    got: list[tuple[str, int, dict[str, Any]]] = []
    receivers = []
    signals = {
        "changed": events.suborder_status_changed,
        "ready": events.suborder_ready,
        "fulfilled": events.suborder_fulfilled,
        "refunded": events.suborder_refunded,
    }
    for name, signal in signals.items():

        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            got.append((_name, sender.id, kwargs))

        receivers.append(receiver)
        signal.connect(receiver)
    try:
        yield got
    finally:
        for (_, signal), receiver in zip(signals.items(), receivers, strict=True):
            signal.disconnect(receiver)


# --- the queue, through the pages ------------------------------------------------------


def test_shop_runs_a_sub_order_from_paid_to_collected(app, client, paid):
    sub = paid["sub_a"]
    owner = paid["owner_a"]
    login(client, owner.email, DEFAULT_PASSWORD)
    page = client.get(QUEUE).text
    assert f"{QUEUE}{sub.id}/accepter" in page and "Refuser" in page
    assert 'id="queue-list"' in page and "15000" in page  # the refresh script

    with captured_events() as got:
        assert staff_post(client, sub, "accepter").status_code == 303
        assert fresh(sub).status is S.ACCEPTED
        assert staff_post(client, sub, "preparer").status_code == 303
        assert staff_post(client, sub, "prete").status_code == 303
        assert fresh(sub).status is S.READY
        wrong = staff_post(client, sub, "remettre", code="000000x")
        assert wrong.status_code == 303
        assert fresh(sub).status is S.READY
        assert "Code de retrait incorrect" in client.get(QUEUE).text
        right = staff_post(client, sub, "remettre", code=sub.pickup_code)
        assert right.status_code == 303
    sub = fresh(sub)
    assert sub.status is S.COLLECTED
    moves = [(e.from_status, e.to_status, e.actor_id, e.actor_kind) for e in sub.history]
    assert moves[-4:] == [
        (S.PAID, S.ACCEPTED, owner.id, "shop"),
        (S.ACCEPTED, S.PREPARING, owner.id, "shop"),
        (S.PREPARING, S.READY, owner.id, "shop"),
        (S.READY, S.COLLECTED, owner.id, "shop"),
    ]
    assert all(e.at is not None for e in sub.history)
    names = [(name, kwargs.get("new")) for name, _, kwargs in got]
    assert names == [
        ("changed", S.ACCEPTED),
        ("changed", S.PREPARING),
        ("changed", S.READY),
        ("ready", None),
        ("changed", S.COLLECTED),
        ("fulfilled", None),
    ]


def test_fragment_lists_the_shops_sub_orders_only(app, client, paid):
    login(client, paid["owner_b"].email, DEFAULT_PASSWORD)
    fragment = client.get(f"{QUEUE}liste")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert paid["sub_b"].reference in fragment.text
    assert paid["sub_a"].reference not in fragment.text


@pytest.mark.parametrize("action", ["accepter", "refuser", "preparer", "prete", "remettre"])
def test_other_shops_staff_residents_and_anonymous_change_nothing(app, client, paid, action):
    sub = paid["sub_a"]
    data = {"reason": "rupture", "code": sub.pickup_code}
    # Anonymous: sent to the log-in page.
    anonymous = staff_post(client, sub, action, **data)
    assert anonymous.status_code == 302 and "/compte/connexion" in anonymous.location
    # A resident, even the one who ordered: forbidden.
    login(client, paid["resident"].email, DEFAULT_PASSWORD)
    assert staff_post(client, sub, action, **data).status_code == 403
    logout(client)
    # Another shop's staff: as if it did not exist.
    login(client, paid["owner_b"].email, DEFAULT_PASSWORD)
    assert staff_post(client, sub, action, **data).status_code == 404
    assert client.get(f"{QUEUE}retrait?ref={sub.reference}").status_code == 404
    sub = fresh(sub)
    assert sub.status is S.PAID
    assert [e.to_status for e in sub.history] == [S.PENDING_PAYMENT, S.PAID]


def test_wrong_state_is_a_conflict_and_changes_nothing(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/")
    json_headers = {"Accept": "application/json"}
    response = client.post(
        f"{QUEUE}{sub.id}/remettre",
        data={"code": sub.pickup_code, "csrf_token": token},
        headers=json_headers,
    )
    assert response.status_code == 409
    assert "Payée" in response.json["message"]
    assert staff_post(client, sub, "accepter").status_code == 303
    again = client.post(
        f"{QUEUE}{sub.id}/accepter", data={"csrf_token": token}, headers=json_headers
    )
    assert again.status_code == 409
    html = staff_post(client, sub, "accepter")
    assert html.status_code == 303
    assert "Action impossible" in client.get(QUEUE).text
    assert client.post(f"{QUEUE}{sub.id}/inconnue", data={"csrf_token": token}).status_code == 404
    assert [e.to_status for e in fresh(sub).history] == [S.PENDING_PAYMENT, S.PAID, S.ACCEPTED]


def test_refuse_needs_a_reason_then_refunds(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    assert staff_post(client, sub, "refuser", reason="  ").status_code == 303
    assert fresh(sub).status is S.PAID
    with captured_events() as got:
        assert staff_post(client, sub, "refuser", reason="Rupture de stock").status_code == 303
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    assert [(e.to_status, e.actor_kind, e.note) for e in sub.history[-2:]] == [
        (S.REFUSED, "shop", "Rupture de stock"),
        (S.REFUNDED, "shop", "Rupture de stock"),
    ]
    assert [n for n, _, _ in got] == ["changed", "changed", "refunded"]
    assert got[-1][2]["refund"].amount_cents == sub.total_cents


# --- every action from every state, at the operation level ---------------------------

STAFF_ACTIONS = {
    "accept": (order_ops.accept, order_ops.ACCEPTABLE, S.ACCEPTED),
    "prepare": (order_ops.start_preparing, order_ops.PREPARABLE, S.PREPARING),
    "ready": (order_ops.mark_ready, order_ops.READYABLE, S.READY),
}


@pytest.mark.parametrize("name", sorted(STAFF_ACTIONS))
@pytest.mark.parametrize("start", list(S))
def test_each_staff_action_from_each_state(app, client, paid, name, start):
    operation, allowed, target = STAFF_ACTIONS[name]
    sub = paid["sub_a"]
    sub.status = start
    db.session.flush()
    before = len(sub.history)
    if start in allowed:
        operation(sub, paid["owner_a"])
        assert sub.status is target
        assert sub.history[-1].actor_id == paid["owner_a"].id
    else:
        with pytest.raises(TransitionError):
            operation(sub, paid["owner_a"])
        assert sub.status is start and len(sub.history) == before
    with pytest.raises(order_ops.NotAllowed):
        operation(sub, paid["owner_b"])
    with pytest.raises(order_ops.NotAllowed):
        operation(sub, None)


@pytest.mark.parametrize("start", list(S))
def test_hand_over_from_each_state(app, client, paid, start):
    sub = paid["sub_a"]
    sub.status = start
    db.session.flush()
    if start is S.READY:
        with pytest.raises(order_ops.WrongPickupCode):
            wrong = "999999" if sub.pickup_code != "999999" else "1"
            order_ops.hand_over(sub, paid["owner_a"], wrong)
        assert sub.status is S.READY
        order_ops.hand_over(sub, paid["owner_a"], f" {sub.pickup_code} ")
        assert sub.status is S.COLLECTED
    else:
        with pytest.raises(TransitionError):
            order_ops.hand_over(sub, paid["owner_a"], sub.pickup_code)
        assert sub.status is start


def test_transition_table_refuses_what_it_does_not_list(app, client, paid):
    sub = paid["sub_a"]
    for target in S:
        if target not in order_ops.TRANSITIONS[S.PAID]:
            with pytest.raises(TransitionError):
                order_ops.transition(sub, target, None, "system")
    assert sub.status is S.PAID


# --- the resident ------------------------------------------------------------------


def test_resident_cancels_before_acceptance_and_is_refunded_at_once(app, client, paid):
    from marketplace.payments import gateway

    sub = paid["sub_b"]
    order = paid["order"]
    login(client, paid["resident"].email, DEFAULT_PASSWORD)
    page = client.get(f"/commandes/{order.public_id}").text
    cancel_url = f"/commandes/{order.public_id}/{sub.id}/annuler"
    assert cancel_url in page and "Annuler" in page
    with captured_events() as got:
        response = client.post(cancel_url, data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 303
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    assert [(e.to_status, e.actor_id, e.actor_kind) for e in sub.history[-2:]] == [
        (S.CANCELLED, paid["resident"].id, "resident"),
        (S.REFUNDED, paid["resident"].id, "resident"),
    ]
    assert [n for n, _, _ in got] == ["changed", "changed", "refunded"]
    refund = got[-1][2]["refund"]
    stripe_refund = gateway().client.v1.refunds.retrieve(refund.provider_refund_id)
    assert stripe_refund.amount == sub.total_cents == 650
    assert stripe_refund.payment_intent == order.payments[0].intent_id
    page = client.get(f"/commandes/{order.public_id}").text
    assert "Remboursée" in page and "Historique" in page
    assert cancel_url not in page
    # The other shop's sub-order is untouched.
    assert fresh(paid["sub_a"]).status is S.PAID


def test_resident_cannot_cancel_once_accepted_nor_someone_elses(app, client, paid):
    sub = paid["sub_a"]
    order_ops.accept(sub, paid["owner_a"])
    db.session.commit()
    url = f"/commandes/{paid['order'].public_id}/{sub.id}/annuler"
    stranger = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, stranger.email, DEFAULT_PASSWORD)
    assert client.post(url, data={"csrf_token": csrf_token(client, "/")}).status_code == 404
    logout(client)
    login(client, paid["resident"].email, DEFAULT_PASSWORD)
    response = client.post(
        url,
        data={"csrf_token": csrf_token(client, "/")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409
    assert fresh(sub).status is S.ACCEPTED
    with pytest.raises(order_ops.NotAllowed):
        order_ops.cancel_by_resident(fresh(paid["sub_b"]), paid["owner_b"])
    assert client.post(url).status_code == 400  # no CSRF token
