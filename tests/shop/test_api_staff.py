"""The shop staff's order queue in the API: the state machine's actions through a
merchant's bearer token, 409 on a status that does not allow them, 422 naming the
field, and another shop's staff getting 404 with nothing changed or leaked."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from marketplace.api_auth import create_token
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.payments import gateway
from shop.models import Order, SubOrder, SubOrderStatus
from tests.factories import UserFactory
from tests.helpers import fake_payment_provider, place_click_and_collect, succeed_payment
from tests.shop import test_orders
from tests.shop.test_orders import fresh

two_shops = test_orders.two_shops

S = SubOrderStatus
BASE = "/api/v1/merchant/shops"


def bearer(user: Any) -> dict[str, str]:
    _row, token = create_token(user, "caisse")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: Any, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code and body["status"] and body.get("message"), body
    return body


def place_paid(resident: Any, items: list[tuple[Any, int]]) -> Order:
    """Basket, checkout (click-and-collect) and the payment webhook, through the
    operations; the provider must be faked (see `paid`)."""
    order = place_click_and_collect(resident, items)
    succeed_payment(order)
    db.session.commit()
    return order


@pytest.fixture
def paid(app, two_shops, monkeypatch) -> dict[str, Any]:
    """A paid order (2 books at 19,90 from shop a, 1 cheese at 6,50 from shop b)
    placed and paid through the operations, the webhook's included.

    The payment provider is faked here: no localstripe event is made, since other
    tests find theirs among localstripe's first 100 events of the session.
    """
    fake_payment_provider(monkeypatch, "api")
    resident = UserFactory(roles=[Role.RESIDENT])
    order = place_paid(resident, [(two_shops["book"], 2), (two_shops["cheese"], 1)])
    subs = {s.shop_id: s for s in order.sub_orders}
    return {
        **two_shops,
        "order": order,
        "resident": resident,
        "sub_a": subs[two_shops["a"].id],
        "sub_b": subs[two_shops["b"].id],
    }


@pytest.fixture
def q(paid: dict[str, Any]) -> dict[str, Any]:
    sub = paid["sub_a"]
    return {
        **paid,
        "auth": bearer(paid["owner_a"]),
        "url": f"{BASE}/{paid['a'].id}/orders",
        "sub_url": f"{BASE}/{paid['a'].id}/orders/{sub.id}",
    }


def test_the_queue_lists_the_shop_s_paid_sub_orders(client, q) -> None:
    response = client.get(q["url"], headers=q["auth"])
    assert response.status_code == 200, response.json
    assert [s["reference"] for s in response.json] == [q["sub_a"].reference]
    item = response.json[0]
    assert item["status"] == "paid" and item["shop_id"] == q["a"].id
    assert item["total_cents"] == 2 * 1990 and item["item_count"] == 2
    assert item["actions"] == ["accept", "refuse", "refund"]
    assert item["customer"]["name"] == "Camille Martin"
    assert item["paid_at"] and item["created_at"]
    assert '"total": 1' in response.headers["X-Pagination"]
    assert "pickup_code" not in response.get_data(as_text=True)
    assert q["sub_a"].pickup_code not in response.get_data(as_text=True)


def test_the_queue_filters(client, q) -> None:
    def refs(query: str) -> list[str]:
        found = client.get(f"{q['url']}?{query}", headers=q["auth"])
        assert found.status_code == 200, found.json
        return [s["reference"] for s in found.json]

    ref = q["sub_a"].reference
    assert refs("status=paid") == [ref]
    assert refs("status=ready&status=paid") == [ref]
    assert refs("status=ready") == []
    assert refs("fulfilment=click_and_collect") == [ref]
    assert refs("fulfilment=express") == []
    created = q["sub_a"].created_at
    assert refs("since=" + quote((created - timedelta(minutes=1)).isoformat())) == [ref]
    assert refs("since=" + quote((created + timedelta(minutes=1)).isoformat())) == []
    naive_utc = (created + timedelta(minutes=1)).astimezone(UTC).replace(tzinfo=None)
    assert refs("since=" + naive_utc.isoformat()) == []
    for bad in ("status=lost", "fulfilment=drone", "since=yesterday", "page_size=1000"):
        assert_error(client.get(f"{q['url']}?{bad}", headers=q["auth"]), 422)


def test_detail_has_lines_and_history_but_never_the_pickup_code(client, q) -> None:
    response = client.get(q["sub_url"], headers=q["auth"])
    assert response.status_code == 200
    body = response.json
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [(q["book"].sku, 2)]
    assert body["lines"][0]["id"] == q["sub_a"].lines[0].id
    assert body["refunded_cents"] == 0 and body["refundable_cents"] == 3980
    assert body["history"][-1]["to_status"] == "paid"
    assert q["sub_a"].pickup_code not in response.get_data(as_text=True)
    assert_error(client.get(f"{q['url']}/{2**40}", headers=q["auth"]), 404)


def test_the_shop_runs_a_sub_order_to_handover(client, q) -> None:
    url, auth = q["sub_url"], q["auth"]
    accepted = client.post(f"{url}/accept", headers=auth)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert accepted.json["actions"] == ["refuse", "preparing", "ready", "refund"]
    again = assert_error(client.post(f"{url}/accept", headers=auth), 409)
    assert again["errors"]["json"]["status"] == ["accepted"]
    assert client.post(f"{url}/preparing", headers=auth).json["status"] == "preparing"
    assert_error(client.post(f"{url}/handover", json={"pickup_code": "x"}, headers=auth), 409)
    ready = client.post(f"{url}/ready", headers=auth)
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    wrong = client.post(f"{url}/handover", json={"pickup_code": "0000000"}, headers=auth)
    assert "pickup_code" in assert_error(wrong, 422)["errors"]["json"]
    assert fresh(q["sub_a"]).status is S.READY
    for bad in ({}, {"pickup_code": ""}, {"pickup_code": 123456}):
        refused = client.post(f"{url}/handover", json=bad, headers=auth)
        assert "pickup_code" in assert_error(refused, 422)["errors"]["json"], bad
    code = q["sub_a"].pickup_code
    done = client.post(f"{url}/handover", json={"pickup_code": f" {code} "}, headers=auth)
    assert done.status_code == 200, done.json
    assert done.json["status"] == "collected" and done.json["actions"] == ["refund"]
    kinds = [(e["to_status"], e["actor_kind"]) for e in done.json["history"]]
    assert kinds[-1] == ("collected", "shop")
    assert_error(client.post(f"{url}/ready", headers=auth), 409)


def test_refusing_needs_a_reason_and_refunds(client, q) -> None:
    url, auth = q["sub_url"], q["auth"]
    for bad in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 301}):
        refused = client.post(f"{url}/refuse", json=bad, headers=auth)
        assert "reason" in assert_error(refused, 422)["errors"]["json"], bad
    assert fresh(q["sub_a"]).status is S.PAID
    response = client.post(f"{url}/refuse", json={"reason": "Rupture de stock"}, headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["status"] in ("refused", "refunded")
    assert response.json["refunded_cents"] == 3980 and response.json["refundable_cents"] == 0
    assert any(e["note"] == "Rupture de stock" for e in response.json["history"])
    assert_error(client.post(f"{url}/accept", headers=auth), 409)


def test_refund_a_line_or_an_amount(client, q) -> None:
    url, auth = f"{q['sub_url']}/refunds", q["auth"]
    line_id = q["sub_a"].lines[0].id
    one = client.post(url, json={"line_id": line_id, "reason": "abîmé"}, headers=auth)
    assert one.status_code == 201, one.json
    assert one.json["amount_cents"] == 1990 and one.json["status"] == "succeeded"
    assert one.json["sub_order"]["refunded_cents"] == 1990
    assert one.json["sub_order"]["refundable_cents"] == 1990
    some = client.post(url, json={"amount_cents": 500}, headers=auth)
    assert some.status_code == 201 and some.json["amount_cents"] == 500
    too_much = client.post(url, json={"amount_cents": 1491}, headers=auth)
    assert "amount_cents" in assert_error(too_much, 422)["errors"]["json"]
    other_line = q["sub_b"].lines[0].id
    foreign = client.post(url, json={"line_id": other_line}, headers=auth)
    assert "line_id" in assert_error(foreign, 422)["errors"]["json"]
    for bad in (
        {},
        {"line_id": line_id, "amount_cents": 100},
        {"amount_cents": 0},
        {"amount_cents": -5},
        {"amount_cents": "5"},
        {"quantity": 1},
        {"line_id": line_id, "quantity": 0},
    ):
        assert_error(client.post(url, json=bad, headers=auth), 422)
    assert fresh(q["sub_a"]).status is S.PAID


def test_another_shop_s_staff_gets_404_and_nothing_changes(client, q) -> None:
    rival = bearer(q["owner_b"])
    sub = q["sub_a"]
    their_url = f"{BASE}/{q['a'].id}/orders/{sub.id}"
    mine_url = f"{BASE}/{q['b'].id}/orders/{sub.id}"  # their sub-order through my shop
    code = sub.pickup_code
    for base in (their_url, mine_url):
        calls = [
            ("get", base, None),
            ("post", f"{base}/accept", None),
            ("post", f"{base}/refuse", {"reason": "non"}),
            ("post", f"{base}/preparing", None),
            ("post", f"{base}/ready", None),
            ("post", f"{base}/handover", {"pickup_code": code}),
            ("post", f"{base}/refunds", {"amount_cents": 100}),
        ]
        for method, url, body in calls:
            response = getattr(client, method)(url, json=body, headers=rival)
            assert_error(response, 404)
            assert sub.reference not in response.get_data(as_text=True), url
    listed = assert_error(client.get(f"{BASE}/{q['a'].id}/orders", headers=rival), 404)
    assert sub.reference not in str(listed)
    own = client.get(f"{BASE}/{q['b'].id}/orders", headers=rival)
    assert [s["reference"] for s in own.json] == [q["sub_b"].reference]
    assert fresh(sub).status is S.PAID
    assert db.session.get(SubOrder, sub.id).history[-1].to_status is S.PAID


def test_tokens_and_roles(client, q) -> None:
    assert_error(client.get(q["url"]), 401)
    assert_error(client.post(f"{q['sub_url']}/accept"), 401)
    assert_error(client.get(q["url"], headers={"Authorization": "Bearer cpt_x"}), 401)
    resident = bearer(q["resident"])
    assert_error(client.get(q["url"], headers=resident), 403)
    assert_error(client.post(f"{q['sub_url']}/accept", headers=resident), 403)
    courier = UserFactory(roles=[Role.COURIER])
    db.session.commit()
    assert_error(client.get(q["url"], headers=bearer(courier)), 403)
    assert fresh(q["sub_a"]).status is S.PAID


def test_a_refund_the_bank_refuses_is_502_and_kept(client, q, monkeypatch) -> None:
    from marketplace.payments import PaymentError
    from shop.models import Refund

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise PaymentError("Le remboursement a échoué.")

    monkeypatch.setattr(gateway(), "refund", refuse)
    response = client.post(f"{q['sub_url']}/refunds", json={"amount_cents": 100}, headers=q["auth"])
    assert_error(response, 502)
    refused = client.post(f"{q['sub_url']}/refuse", json={"reason": "Fermé"}, headers=q["auth"])
    assert_error(refused, 502)
    assert fresh(q["sub_a"]).status is S.REFUSED  # refused; the refund is retried later
    rows = db.session.query(Refund).filter(Refund.sub_order_id == q["sub_a"].id).all()
    assert rows and {r.status for r in rows} == {"failed"}


def test_the_queue_list_does_not_grow_queries_with_its_length(client, q, count_queries) -> None:
    client.get(q["url"], headers=q["auth"])  # the token's first use records it
    with count_queries() as one:
        assert client.get(q["url"], headers=q["auth"]).status_code == 200
    q["book"].stock = 10
    db.session.commit()
    for _ in range(3):  # more paid sub-orders of shop a
        place_paid(UserFactory(roles=[Role.RESIDENT]), [(q["book"], 1)])
    with count_queries() as four:
        listed = client.get(q["url"], headers=q["auth"])
    assert len(listed.json) == 4
    assert four.count == one.count
