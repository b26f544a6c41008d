"""The shop's own deliveries and standard parcels, from the staff queue: out for
delivery, delivered or failed (with the reason, told to the resident); a parcel's
carrier and tracking number (checked per carrier), its A6 label with a barcode,
handed to the carrier; the resident's tracking section and mails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from delivery.models import Shipment, ShipmentStatus
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, MailOutbox, Role
from shop.models import SubOrder, SubOrderStatus
from shop.operations import orders as order_ops
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import csrf_token, login, main_text
from tests.merchants.sales_data import make_sale
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

S = SubOrderStatus
QUEUE = "/boutique/commandes/"
ADDRESS = "12 rue de la Paix, 47200 Marmande"


def delivery_sub(
    shops: dict[str, Any], method: FulfilmentMethod, quantity: int = 1, ready: bool = True
) -> SubOrder:
    """A paid sub-order of shop a (books) with `method`, made ready by its owner."""
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.flush()
    sub = make_sale(
        shops["a"],
        resident,
        [(shops["book"], quantity)],
        datetime.now(UTC) - timedelta(hours=5),
        status=S.ACCEPTED,
    )
    sub.fulfilment_method = method
    sub.delivery_address = ADDRESS
    db.session.flush()
    if ready:
        order_ops.mark_ready(sub, shops["owner_a"])
    return sub


def as_staff(client: Any, user: Any) -> None:
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)


def post(client: Any, sub_id: int, action: str, json: bool = False, **data: Any) -> Any:
    token = csrf_token(client, "/")
    headers = {"Accept": "application/json"} if json else {}
    return client.post(
        f"{QUEUE}{sub_id}/{action}", data={**data, "csrf_token": token}, headers=headers
    )


def fresh(sub_id: int) -> SubOrder:
    db.session.expire_all()
    found = db.session.get(SubOrder, sub_id)
    assert found is not None
    return found


def mails(reference: str, word: str) -> list[MailOutbox]:
    return [
        m
        for m in db.session.scalars(select(MailOutbox).order_by(MailOutbox.id))
        if word in m.subject and reference in m.body_text
    ]


# --- the shop delivers itself --------------------------------------------------------


def test_shop_delivery_out_then_delivered(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    sub_id, ref = sub.id, sub.reference
    as_staff(client, two_shops["owner_a"])
    queue = main_text(client.get(QUEUE).text)
    assert "Partir en livraison" in queue and ADDRESS in queue
    assert "Code de retrait" not in queue  # no collection for a delivery

    response = post(client, sub_id, "partir")
    assert response.status_code == 303
    sub = fresh(sub_id)
    assert sub.status is S.OUT_FOR_DELIVERY
    last = sub.history[-1]
    assert (last.from_status, last.actor_kind, last.actor_id) == (
        S.READY,
        "shop",
        two_shops["owner_a"].id,
    )
    en_route = mails(ref, "en route")
    assert len(en_route) == 1
    assert "la boutique vous l'apporte" in en_route[0].body_text
    assert en_route[0].body_html and "la boutique vous l" in en_route[0].body_html

    assert post(client, sub_id, "livree").status_code == 303
    assert fresh(sub_id).status is S.DELIVERED
    assert len(mails(ref, "livrée")) == 1


def test_shop_delivery_failed_needs_a_reason_and_tells_the_resident(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    sub_id, ref = sub.id, sub.reference
    as_staff(client, two_shops["owner_a"])
    assert post(client, sub_id, "partir").status_code == 303

    empty = post(client, sub_id, "echec", json=True, reason="  ")
    assert empty.status_code == 422
    assert "pourquoi la livraison a échoué" in empty.json["message"]
    assert fresh(sub_id).status is S.OUT_FOR_DELIVERY

    assert post(client, sub_id, "echec", reason="Personne au domicile").status_code == 303
    sub = fresh(sub_id)
    assert sub.status is S.DELIVERY_FAILED
    assert sub.history[-1].note == "Personne au domicile"
    failed = mails(ref, "livraison impossible")
    assert len(failed) == 1
    assert "Personne au domicile" in failed[0].body_text
    assert "retourne à la boutique" in failed[0].body_text

    # The shop sets off again: the resident is told it is on its way again.
    assert post(client, sub_id, "partir").status_code == 303
    assert fresh(sub_id).status is S.OUT_FOR_DELIVERY
    assert len(mails(ref, "en route")) == 2


def test_shop_delivery_wrong_state_and_wrong_method(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    collect = delivery_sub(two_shops, FulfilmentMethod.CLICK_AND_COLLECT)
    sub_id, collect_id = sub.id, collect.id
    as_staff(client, two_shops["owner_a"])

    early = post(client, sub_id, "livree", json=True)
    assert early.status_code == 409
    assert "est « Prête à retirer »" in early.json["message"]
    assert fresh(sub_id).status is S.READY

    wrong = post(client, collect_id, "partir", json=True)
    assert wrong.status_code == 409
    assert "Retrait en boutique" in wrong.json["message"]
    assert fresh(collect_id).status is S.READY


def test_only_the_shops_staff_act(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    parcel = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    sub_id, parcel_id = sub.id, parcel.id
    resident = UserFactory(roles=[Role.RESIDENT])
    as_staff(client, two_shops["owner_b"])  # staff of the other shop
    assert post(client, sub_id, "partir").status_code == 404
    assert (
        post(client, parcel_id, "colis", carrier="other", tracking_number="ABC123").status_code
        == 404
    )
    assert fresh(sub_id).status is S.READY
    assert db.session.scalar(select(Shipment).where(Shipment.sub_order_id == parcel_id)) is None

    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    as_staff(client, resident)
    assert post(client, sub_id, "partir").status_code == 403


# --- standard parcels ----------------------------------------------------------------


def test_parcel_tracking_number_checked_per_carrier(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    sub_id = sub.id
    as_staff(client, two_shops["owner_a"])
    queue = client.get(QUEUE).text
    assert 'name="tracking_number"' in queue and '<option value="colissimo"' in queue

    bad = post(client, sub_id, "colis", json=True, carrier="colissimo", tracking_number="12345")
    assert bad.status_code == 422
    assert bad.json["errors"]["form"]["tracking_number"]
    assert "pas un numéro de suivi Colissimo" in bad.json["message"]
    unknown = post(client, sub_id, "colis", json=True, carrier="la-poste-2", tracking_number="X1")
    assert unknown.status_code == 422 and "carrier" in unknown.json["errors"]["form"]
    empty = post(client, sub_id, "colis", json=True, carrier="chronopost", tracking_number="")
    assert empty.status_code == 422 and "tracking_number" in empty.json["errors"]["form"]
    odd = post(client, sub_id, "colis", json=True, carrier="other", tracking_number="AB<script>")
    assert odd.status_code == 422
    assert db.session.scalar(select(Shipment).where(Shipment.sub_order_id == sub_id)) is None

    # Spaces and dashes as printed on the receipt are fine.
    ok = post(client, sub_id, "colis", carrier="colissimo", tracking_number="6a 1234-5678 901")
    assert ok.status_code == 303
    shipment = db.session.scalar(select(Shipment).where(Shipment.sub_order_id == sub_id))
    assert shipment is not None and shipment.tracking_number == "6A12345678901"
    assert shipment.status is ShipmentStatus.LABEL_CREATED
    assert fresh(sub_id).status is S.READY  # not gone yet


def test_parcel_label_and_shipping(app, client, two_shops):  # noqa: F811
    two_shops["book"].weight_grams = 350
    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD, quantity=2)
    sub_id, ref = sub.id, sub.reference
    as_staff(client, two_shops["owner_a"])
    # Handed over before the number is known: refused, nothing changes.
    early = post(client, sub_id, "expedier", json=True)
    assert early.status_code == 422 and "numéro de suivi" in early.json["message"]
    assert client.get(f"{QUEUE}{sub_id}/etiquette").status_code == 404

    assert (
        post(
            client, sub_id, "colis", carrier="chronopost", tracking_number="XY123456789FR"
        ).status_code
        == 303
    )
    label = client.get(f"{QUEUE}{sub_id}/etiquette")
    assert label.status_code == 200
    text = main_text(label.text)
    for expected in (
        "Chronopost",
        ref,
        "XY123456789FR",
        "La Bouquinerie",
        "Camille Martin",
        ADDRESS,
        "0,7 kg",
    ):
        assert expected in text, expected
    assert "size: A6" in label.text
    assert '<svg role="img" aria-label="Code-barres du numéro de suivi XY123456789FR"' in label.text

    # Corrected before it leaves: the same shipment, the new number.
    assert (
        post(
            client, sub_id, "colis", carrier="colissimo", tracking_number="8R00000000001"
        ).status_code
        == 303
    )
    rows = db.session.scalars(select(Shipment).where(Shipment.sub_order_id == sub_id)).all()
    assert [(r.carrier, r.tracking_number, r.weight_grams) for r in rows] == [
        ("colissimo", "8R00000000001", 700)
    ]

    assert post(client, sub_id, "expedier").status_code == 303
    sub = fresh(sub_id)
    assert sub.status is S.OUT_FOR_DELIVERY
    assert [e.to_status for e in sub.history][-2:] == [S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY]
    db.session.refresh(rows[0])
    assert rows[0].status is ShipmentStatus.SHIPPED and rows[0].shipped_at is not None
    en_route = mails(ref, "en route")
    assert len(en_route) == 1
    body = en_route[0].body_text
    assert "Colissimo" in body and "8R00000000001" in body
    assert "laposte.fr/outils/suivre-vos-envois?code=8R00000000001" in body
    assert "livreur" not in body
    # Gone: it can be neither shipped again nor renumbered.
    assert post(client, sub_id, "expedier", json=True).status_code == 409
    again = post(client, sub_id, "colis", json=True, carrier="other", tracking_number="ZZ1")
    assert again.status_code == 409


def test_label_is_for_the_shops_staff_only(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    sub_id = sub.id
    as_staff(client, two_shops["owner_a"])
    assert (
        post(client, sub_id, "colis", carrier="other", tracking_number="ABC123").status_code == 303
    )
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    as_staff(client, two_shops["owner_b"])
    assert client.get(f"{QUEUE}{sub_id}/etiquette").status_code == 404
    # An id no sub-order can have: not found either, on the label and the queue's actions.
    assert client.get(f"{QUEUE}{2**31}/etiquette").status_code == 404
    assert post(client, 2**31, "partir").status_code == 404


def test_a_tracking_number_belongs_to_one_parcel(app, client, two_shops):  # noqa: F811
    first = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    second = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    first_id, second_id = first.id, second.id
    as_staff(client, two_shops["owner_a"])
    assert (
        post(
            client, first_id, "colis", carrier="mondial_relay", tracking_number="12345678"
        ).status_code
        == 303
    )
    taken = post(
        client, second_id, "colis", json=True, carrier="mondial_relay", tracking_number="12345678"
    )
    assert taken.status_code == 422 and "déjà celui d'un autre colis" in taken.json["message"]


def test_parcel_actions_refuse_other_methods_and_states(app, client, two_shops):  # noqa: F811
    express = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    waiting = delivery_sub(two_shops, FulfilmentMethod.STANDARD, ready=False)
    express_id, waiting_id = express.id, waiting.id
    as_staff(client, two_shops["owner_a"])
    wrong = post(client, express_id, "colis", json=True, carrier="other", tracking_number="A1")
    assert wrong.status_code == 409 and "Livraison par la boutique" in wrong.json["message"]
    early = post(client, waiting_id, "colis", json=True, carrier="other", tracking_number="A1")
    assert early.status_code == 409 and "Acceptée" in early.json["message"]


# --- what the resident sees ----------------------------------------------------------


def resident_page(client: Any, sub: SubOrder) -> str:
    email, public_id = sub.order.user.email, sub.order.public_id
    db.session.commit()
    client.post("/compte/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    login(client, email, DEFAULT_PASSWORD)
    page = client.get(f"/commandes/{public_id}")
    assert page.status_code == 200
    return page.text


def test_resident_follows_a_parcel(app, client, two_shops):  # noqa: F811
    from delivery.operations import shipments
    from shop.operations import parcels

    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    parcels.create_shipment(sub, two_shops["owner_a"], "colissimo", "6A12345678901")
    parcels.ship(sub, two_shops["owner_a"])
    shipments.record_carrier_event(
        "colissimo",
        "evt-1",
        "6A12345678901",
        ShipmentStatus.IN_TRANSIT,
        datetime.now(UTC),
        description="Pris en charge",
        location="Agen PFC",
    )
    html = resident_page(client, sub)
    text = main_text(html)
    assert "Suivi de livraison" in text
    assert "Colissimo" in text and "6A12345678901" in text
    assert "Remis au transporteur" in text and "En transit (Agen PFC) : Pris en charge" in text
    assert 'href="https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"' in html
    assert "à venir" in text  # delivered still to come


def test_resident_follows_a_shop_delivery(app, client, two_shops):  # noqa: F811
    sub = delivery_sub(two_shops, FulfilmentMethod.MERCHANT_DELIVERY)
    order_ops.send_out(sub, two_shops["owner_a"])
    order_ops.report_delivery_failed(sub, two_shops["owner_a"], "Adresse introuvable")
    text = main_text(resident_page(client, sub))
    assert "La boutique vous livre elle-même" in text
    assert "Remise au livreur" not in text
    assert "Livraison impossible : Adresse introuvable" in text
    assert "retourne à la boutique" in text


def test_parcel_mails_in_english(app, two_shops):  # noqa: F811
    from shop.operations import parcels

    sub = delivery_sub(two_shops, FulfilmentMethod.STANDARD)
    sub.order.user.locale = "en"
    parcels.create_shipment(sub, two_shops["owner_a"], "chronopost", "XY123456789FR")
    parcels.ship(sub, two_shops["owner_a"])
    db.session.flush()
    mail = next(m for m in db.session.scalars(select(MailOutbox)) if sub.reference in m.body_text)
    assert "on its way" in mail.subject
    assert "has been handed to Chronopost" in mail.body_text
    assert "Tracking number: XY123456789FR" in mail.body_text
    assert mail.body_html and "Track the parcel at Chronopost" in mail.body_html
