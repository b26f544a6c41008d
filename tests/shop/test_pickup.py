"""Click-and-collect at the counter: the pickup code and its QR code once paid, the
shop checks the code at handover, uncollected orders cancelled and refunded after
the hold (PICKUP_HOLD_DAYS, default 7) by the scheduled task."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace import ledger
from marketplace.extensions import celery_app, db
from marketplace.models import Role, utcnow
from shop.models import Order, Refund, SubOrderEvent, SubOrderStatus
from shop.operations import orders as order_ops
from shop.tasks import cancel_uncollected_orders
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import csrf_token, login
from tests.shop import test_orders
from tests.shop.test_orders import (
    QUEUE,
    fresh,
    place_order,
    staff_post,
)

# Fixtures shared with the order tests.
paid = test_orders.paid
two_shops = test_orders.two_shops

S = SubOrderStatus


def test_no_pickup_code_before_payment(app, client, two_shops):
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    order = place_order(client, resident, [(two_shops["book"], 1)])
    page = client.get(f"/commandes/{order.public_id}").text
    assert "<svg" not in page and order.sub_orders[0].pickup_code not in page  # not paid yet


def test_order_page_shows_code_qr_and_history(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["resident"].email, DEFAULT_PASSWORD)
    page = client.get(f"/commandes/{paid['order'].public_id}").text
    assert sub.pickup_code in page
    svgs = re.findall(r"<svg[^>]*>", page)
    assert len(svgs) == 2 and all('role="img"' in tag for tag in svgs)
    assert any(f'aria-label="QR code de retrait de la commande {sub.reference}"' in t for t in svgs)
    assert "<title>QR code de retrait" in page
    assert "Présentez ce QR code ou le code ci-dessous" in page  # the text alternative
    assert "Historique" in page and "Payée" in page
    # Once collected, no code any more.
    order_ops.accept(sub, paid["owner_a"])
    order_ops.mark_ready(sub, paid["owner_a"])
    order_ops.hand_over(sub, paid["owner_a"], sub.pickup_code)
    db.session.commit()
    page = client.get(f"/commandes/{paid['order'].public_id}").text
    assert page.count("<svg") == 1  # only shop b's sub-order still shows one
    assert f"commande {sub.reference}" not in page and "Retirée" in page


def test_scanned_qr_opens_the_handover_page(app, client, paid):
    sub = paid["sub_a"]
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    url = f"{QUEUE}retrait?ref={sub.reference}&code={sub.pickup_code}"
    page = client.get(url)
    assert page.status_code == 200
    assert "ne peut pas être remise" in page.text  # not ready yet
    order_ops.accept(sub, paid["owner_a"])
    order_ops.mark_ready(sub, paid["owner_a"])
    db.session.commit()
    page = client.get(url).text
    assert f'value="{sub.pickup_code}"' in page and f"{sub.id}/remettre" in page
    assert client.get(f"{QUEUE}retrait?ref=CNOPE").status_code == 404
    assert client.get(f"{QUEUE}retrait").status_code == 200


def test_wrong_code_refused_and_nothing_changes(app, client, paid):
    sub = paid["sub_a"]
    order_ops.accept(sub, paid["owner_a"])
    order_ops.mark_ready(sub, paid["owner_a"])
    db.session.commit()
    login(client, paid["owner_a"].email, DEFAULT_PASSWORD)
    before = len(fresh(sub).history)
    for code in ["", "000000" if sub.pickup_code != "000000" else "111111", sub.pickup_code + "0"]:
        response = client.post(
            f"{QUEUE}{sub.id}/remettre",
            data={"code": code, "csrf_token": csrf_token(client, QUEUE)},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 422, code
    sub = fresh(sub)
    assert sub.status is S.READY and len(sub.history) == before
    assert staff_post(client, sub, "remettre", code=sub.pickup_code).status_code == 303
    assert fresh(sub).status is S.COLLECTED


def _ready_since(sub, when) -> None:
    event = db.session.scalars(
        select(SubOrderEvent).where(
            SubOrderEvent.sub_order_id == sub.id, SubOrderEvent.to_status == S.READY
        )
    ).one()
    event.at = when
    db.session.commit()


def test_uncollected_cancelled_and_refunded_after_seven_days_not_before(app, client, paid):
    sub, other = paid["sub_a"], paid["sub_b"]
    for s, owner in ((sub, paid["owner_a"]), (other, paid["owner_b"])):
        order_ops.accept(s, owner)
        order_ops.mark_ready(s, owner)
    db.session.commit()
    now = utcnow()
    _ready_since(sub, now - timedelta(days=7) + timedelta(minutes=1))
    assert order_ops.cancel_uncollected(now) == []
    assert fresh(sub).status is S.READY
    _ready_since(sub, now - timedelta(days=7, minutes=1))
    assert order_ops.cancel_uncollected(now) == [sub.id]
    db.session.commit()
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    assert [(e.to_status, e.actor_kind, e.actor_id) for e in sub.history[-2:]] == [
        (S.CANCELLED, "system", None),
        (S.REFUNDED, "system", None),
    ]
    assert fresh(other).status is S.READY  # ready for a moment only
    # Idempotent: run again, nothing more.
    assert order_ops.cancel_uncollected(now + timedelta(days=1)) == []
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    assert ledger.balance(ledger.shop_payable(paid["a"].id)[0]) == 0


def test_scheduled_task_uses_the_configured_hold(app, client, paid):
    sub = paid["sub_b"]
    order_ops.accept(sub, paid["owner_b"])
    order_ops.mark_ready(sub, paid["owner_b"])
    db.session.commit()
    _ready_since(sub, utcnow() - timedelta(days=2, minutes=5))
    assert cancel_uncollected_orders.delay().get() == 0  # 7 days by default
    app.config["PICKUP_HOLD_DAYS"] = 2
    try:
        assert cancel_uncollected_orders.delay().get() == 1
        assert cancel_uncollected_orders.delay().get() == 0
    finally:
        del app.config["PICKUP_HOLD_DAYS"]
    sub = fresh(sub)
    assert sub.status is S.REFUNDED
    assert db.session.get(Order, paid["order"].id).status.value == "paid"


def test_task_is_in_the_daily_beat_schedule(app):
    entries = [
        e
        for e in celery_app.conf.beat_schedule.values()
        if e["task"] == "shop.cancel_uncollected_orders"
    ]
    assert len(entries) == 1
    schedule = entries[0]["schedule"]
    assert schedule.hour == {6} and schedule.day_of_week == set(range(7))


@pytest.mark.parametrize("status", [S.PAID, S.ACCEPTED, S.COLLECTED, S.CANCELLED])
def test_only_ready_sub_orders_are_cancelled_as_uncollected(app, client, paid, status):
    sub = paid["sub_a"]
    sub.status = status
    order_ops.record(sub, None, S.READY, None, "system")
    db.session.commit()
    _ready_since(sub, utcnow() - timedelta(days=30))
    assert order_ops.cancel_uncollected(utcnow()) == []
    assert fresh(sub).status is status
