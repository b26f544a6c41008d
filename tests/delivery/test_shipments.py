"""Standard parcels: tracking numbers checked per carrier, and the carriers' signed
status updates (POST /api/v1/carriers/<carrier>/events): signature and timestamp,
each event id once, out of order tolerated, mapped onto the sub-order's states and
told to the resident."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from delivery.models import Shipment, ShipmentEvent, ShipmentStatus
from delivery.operations import shipments
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, MailOutbox
from shop.models import SubOrder, SubOrderStatus
from shop.operations import parcels
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture
from tests.shop.test_staff_deliveries import delivery_sub

S = SubOrderStatus
SS = ShipmentStatus
SECRET = "carrier-test-secret"
NUMBER = "6A12345678901"


# --- tracking numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("carrier", "typed", "kept"),
    [
        ("colissimo", "6a 1234 5678 901", "6A12345678901"),
        ("colissimo", "CB123456789FR", "CB123456789FR"),
        ("mondial_relay", "1234-5678", "12345678"),
        ("mondial_relay", "123456789012", "123456789012"),
        ("chronopost", "xy123456789fr", "XY123456789FR"),
        ("other", "DPD 0987 ab", "DPD0987AB"),
    ],
)
def test_tracking_numbers_normalised(app, carrier: str, typed: str, kept: str) -> None:
    assert shipments.check_tracking(carrier, typed) == kept


@pytest.mark.parametrize(
    ("carrier", "typed", "field"),
    [
        ("colissimo", "12345", "tracking_number"),
        ("colissimo", "XY12345678FR", "tracking_number"),
        ("mondial_relay", "1234567", "tracking_number"),
        ("mondial_relay", "ABCDEFGH", "tracking_number"),
        ("chronopost", "6A12345678901", "tracking_number"),
        ("other", "", "tracking_number"),
        ("other", "abc/def", "tracking_number"),
        ("other", "é123", "tracking_number"),
        ("other", "A" * 41, "tracking_number"),
        ("ups-maybe", "1Z999", "carrier"),
    ],
)
def test_bad_tracking_numbers_refused(app, carrier: str, typed: str, field: str) -> None:
    with pytest.raises(shipments.ShipmentError) as caught:
        shipments.check_tracking(carrier, typed)
    assert caught.value.field == field


def test_tracking_url_per_carrier(app, two_shops) -> None:  # noqa: F811
    shipment = Shipment(carrier="mondial_relay", tracking_number="12345678")
    assert shipments.tracking_url(shipment) == (
        "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition=12345678"
    )
    assert shipments.tracking_url(Shipment(carrier="other", tracking_number="X1")) is None


# --- the carriers' endpoint ----------------------------------------------------------


@pytest.fixture
def shipped(app, two_shops, monkeypatch) -> SubOrder:  # noqa: F811
    monkeypatch.setitem(app.config, "CARRIER_COLISSIMO_SECRET", SECRET)
    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    parcels.create_shipment(sub, two_shops["owner_a"], "colissimo", NUMBER)
    parcels.ship(sub, two_shops["owner_a"])
    db.session.commit()
    return sub


def event(event_id: str = "evt-1", status: str = "in_transit", **changes: Any) -> dict[str, Any]:
    body = {
        "event_id": event_id,
        "tracking_number": NUMBER,
        "status": status,
        "occurred_at": datetime.now(UTC).isoformat(),
        "description": "",
        "location": "",
    }
    body.update(changes)
    return body


def send(
    client: Any,
    body: dict[str, Any] | str,
    carrier: str = "colissimo",
    secret: str = SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> Any:
    raw = (body if isinstance(body, str) else json.dumps(body)).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = header if header is not None else shipments.sign(secret, stamp, raw)
    return client.post(
        f"/api/v1/carriers/{carrier}/events",
        data=raw,
        headers={"Content-Type": "application/json", "X-Carrier-Signature": signature},
    )


def status_of(sub: SubOrder) -> tuple[SubOrderStatus, ShipmentStatus]:
    db.session.expire_all()
    fresh = db.session.get(SubOrder, sub.id)
    shipment = shipments.shipment_for_sub_order(sub.id)
    assert fresh is not None and shipment is not None
    return fresh.status, shipment.status


def mails_about(sub: SubOrder, word: str) -> list[MailOutbox]:
    return [
        m
        for m in db.session.scalars(select(MailOutbox).order_by(MailOutbox.id))
        if word in m.subject and sub.reference in m.body_text
    ]


def test_events_move_the_parcel_then_the_sub_order(client, shipped) -> None:
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.SHIPPED)
    first = send(client, event("e1", "in_transit", location="Agen"))
    assert first.status_code == 200, first.json
    assert first.json == {
        **first.json,
        "carrier": "colissimo",
        "tracking_number": NUMBER,
        "status": "in_transit",
        "duplicate": False,
        "applied": True,
    }
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.IN_TRANSIT)
    assert send(client, event("e2", "out_for_delivery")).status_code == 200
    delivered = send(client, event("e3", "delivered", description="Remis en main propre"))
    assert delivered.status_code == 200 and delivered.json["status"] == "delivered"
    assert status_of(shipped) == (S.DELIVERED, SS.DELIVERED)
    assert len(mails_about(shipped, "livrée")) == 1
    last = db.session.get(SubOrder, shipped.id).history[-1]
    assert (last.actor_kind, last.actor_id) == ("carrier", None)


def test_a_replayed_event_is_applied_once(client, shipped) -> None:
    body = event("same-id", "failed", description="Absent, avis de passage")
    assert send(client, body).json["duplicate"] is False
    again = send(client, body)
    assert again.status_code == 200
    assert again.json["duplicate"] is True and again.json["applied"] is False
    count = db.session.scalar(
        select(func.count())
        .select_from(ShipmentEvent)
        .where(ShipmentEvent.external_id == "same-id")
    )
    assert count == 1
    assert len(mails_about(shipped, "livraison impossible")) == 1


def test_late_news_changes_nothing(client, shipped) -> None:
    now = datetime.now(UTC)
    assert send(client, event("d", "delivered", occurred_at=now.isoformat())).status_code == 200
    late = send(
        client, event("t", "in_transit", occurred_at=(now - timedelta(hours=5)).isoformat())
    )
    assert late.status_code == 200
    assert late.json["applied"] is False and late.json["status"] == "delivered"
    # Even dated after it: nothing follows a delivery.
    after = send(client, event("f", "failed", occurred_at=now.isoformat()))
    assert after.json["applied"] is False
    assert status_of(shipped) == (S.DELIVERED, SS.DELIVERED)
    # Both kept in the parcel's history.
    shipment = shipments.shipment_for_sub_order(shipped.id)
    assert {"t", "f"} <= {e.external_id for e in shipment.events}


def test_an_older_event_after_a_newer_one_is_ignored(client, shipped) -> None:
    now = datetime.now(UTC)
    assert send(client, event("b", "out_for_delivery", occurred_at=now.isoformat())).json["applied"]
    older = event("a", "in_transit", occurred_at=(now - timedelta(hours=1)).isoformat())
    assert send(client, older).json["applied"] is False
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.OUT_FOR_DELIVERY)


def test_failed_attempt_then_delivered(client, shipped) -> None:
    now = datetime.now(UTC)
    failed = event(
        "1", "failed", occurred_at=(now - timedelta(hours=2)).isoformat(), description="Absent"
    )
    assert send(client, failed).status_code == 200
    assert status_of(shipped) == (S.DELIVERY_FAILED, SS.FAILED)
    mail = mails_about(shipped, "livraison impossible")
    assert len(mail) == 1
    assert "Colissimo : Absent" in mail[0].body_text
    assert "vous présentera de nouveau le colis" in mail[0].body_text
    assert NUMBER in mail[0].body_text
    assert send(client, event("2", "delivered", occurred_at=now.isoformat())).status_code == 200
    assert status_of(shipped) == (S.DELIVERED, SS.DELIVERED)


def test_returned_parcel_goes_back_to_the_shop(client, shipped) -> None:
    assert send(client, event("r", "returned")).status_code == 200
    assert status_of(shipped) == (S.DELIVERY_FAILED, SS.RETURNED)
    mail = mails_about(shipped, "livraison impossible")
    assert len(mail) == 1 and "retourne à la boutique" in mail[0].body_text


def test_bad_signatures_are_refused(client, shipped) -> None:
    body = event("x")
    assert send(client, body, secret="not-the-secret").status_code == 401
    assert send(client, body, header="").status_code == 401
    assert send(client, body, header="v1=abc").status_code == 401
    # Digits int() refuses ("²"), or too many for a time: refused, not a crash.
    assert send(client, body, header="t=²,v1=abc").status_code == 401
    assert send(client, body, header=f"t={'9' * 5000},v1=abc").status_code == 401
    expired = send(client, body, timestamp=int(time.time()) - 3600)
    assert expired.status_code == 401 and "too old" in expired.json["message"]
    ahead = send(client, body, timestamp=int(time.time()) + 3600)
    assert ahead.status_code == 401
    # A signature of another body.
    raw = json.dumps(body).encode()
    other = shipments.sign(SECRET, int(time.time()), raw + b" ")
    assert send(client, body, header=other).status_code == 401
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.SHIPPED)
    assert db.session.scalar(select(ShipmentEvent).where(ShipmentEvent.external_id == "x")) is None


def test_carrier_without_secret_or_unknown(client, shipped) -> None:
    # Chronopost has no secret configured here: nobody can sign for it.
    assert send(client, event("c"), carrier="chronopost").status_code == 401
    assert send(client, event("c"), carrier="ups").status_code == 401
    assert send(client, event("c"), carrier="other").status_code == 401


def test_a_huge_body_is_refused_in_the_error_shape(client, shipped) -> None:
    # Signed and well formed, but no carrier event is this long: refused unread.
    huge = send(client, event("h", description="x" * (64 * 1024)))
    assert huge.status_code == 413
    assert huge.json == {
        "code": 413,
        "status": "Request Entity Too Large",
        "message": "Envoi trop volumineux : 64\u202fko au plus.",  # Babel's narrow space
    }
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.SHIPPED)
    assert db.session.scalar(select(ShipmentEvent).where(ShipmentEvent.external_id == "h")) is None
    # Far over the site-wide limit too: the same answer, not a 500.
    assert send(client, event("h", description="x" * (17 * 1024 * 1024))).status_code == 413


def test_unknown_tracking_number(client, shipped) -> None:
    response = send(client, event("u", tracking_number="6A99999999999"))
    assert response.status_code == 404
    assert response.json["code"] == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "teleported"}, "status"),
        ({"status": "label_created"}, "status"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-24T10:00:00"}, "occurred_at"),  # no UTC offset
        ({"event_id": ""}, "event_id"),
        ({"tracking_number": None}, "tracking_number"),
        ({"description": "x" * 301}, "description"),
    ],
)
def test_malformed_bodies_name_the_field(client, shipped, changes, field) -> None:
    response = send(client, {**event("m"), **changes})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_missing_fields_and_future_events(client, shipped) -> None:
    body = event("n")
    del body["status"]
    missing = send(client, body)
    assert missing.status_code == 422 and "status" in missing.json["errors"]["json"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ahead = send(client, event("n", occurred_at=future))
    assert ahead.status_code == 422 and "occurred_at" in ahead.json["errors"]["json"]
    assert send(client, "not json").status_code in (400, 422)
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.SHIPPED)


def test_in_the_openapi_document(client) -> None:
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"]["/api/v1/carriers/{carrier}/events"]["post"]
    assert operation["security"] == [{"carrierSignature": []}]
    assert {"200", "401", "404", "413", "422"} <= set(operation["responses"])
    scheme = spec["components"]["securitySchemes"]["carrierSignature"]
    assert scheme["in"] == "header" and scheme["name"] == "X-Carrier-Signature"


def test_a_returned_parcel_is_sent_again(client, shipped, two_shops) -> None:  # noqa: F811
    owner = two_shops["owner_a"]
    assert send(client, event("f", "failed", description="Absent")).status_code == 200
    sub = db.session.get(SubOrder, shipped.id)
    # The carrier still has it after a failed attempt: no second parcel.
    with pytest.raises(shipments.ShipmentError):
        parcels.create_shipment(sub, owner, "colissimo", "6A00000000002")
    db.session.rollback()
    assert send(client, event("r", "returned")).status_code == 200
    sub = db.session.get(SubOrder, shipped.id)
    # Sent again, it is a new parcel: the returned one's number is refused on its field.
    with pytest.raises(shipments.ShipmentError) as same:
        parcels.create_shipment(sub, owner, "colissimo", NUMBER)
    assert same.value.field == "tracking_number"
    second = parcels.create_shipment(sub, owner, "colissimo", "6A00000000002")
    parcels.ship(sub, owner)
    db.session.commit()
    assert status_of(shipped) == (S.OUT_FOR_DELIVERY, SS.SHIPPED)
    assert shipments.shipment_for_sub_order(shipped.id).id == second.id
    assert len(mails_about(shipped, "en route")) == 2
    later = send(client, {**event("d2", "delivered"), "tracking_number": "6A00000000002"})
    assert later.status_code == 200
    assert status_of(shipped) == (S.DELIVERED, SS.DELIVERED)


def test_no_refund_while_the_carrier_still_has_the_parcel(client, shipped) -> None:
    """After a failed attempt the carrier may still deliver: refunding then could leave
    the resident the parcel and the money; once it is back at the shop, the rule is lifted."""
    from shop.operations import refunds as refund_ops

    assert send(client, event("f", "failed", description="Absent")).status_code == 200
    sub = db.session.get(SubOrder, shipped.id)
    with client.application.test_request_context(), pytest.raises(refund_ops.RefundError) as early:
        refund_ops.refund(sub, None, "shop", amount_cents=100)
    assert "encore chez le transporteur" in early.value.message
    db.session.rollback()
    assert send(client, event("r", "returned")).status_code == 200
    sub = db.session.get(SubOrder, shipped.id)
    # No Stripe payment in this fixture: refused for that reason only.
    with client.application.test_request_context(), pytest.raises(refund_ops.RefundError) as later:
        refund_ops.refund(sub, None, "shop", amount_cents=100)
    assert "transporteur" not in later.value.message
