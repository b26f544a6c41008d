"""E-mails to residents: order confirmed, ready for pickup, cancelled or refused,
refunded; in their language, as text and HTML, through the outbox and the mail task."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from babel.messages.extract import extract_from_dir
from sqlalchemy import select

from marketplace import events
from marketplace.extensions import db
from marketplace.models import Role
from shop.models import Order, SubOrder, SubOrderStatus
from shop.operations import transition
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import login
from tests.marketplace.test_i18n import read_catalog
from tests.shop import test_order_flow
from tests.shop.test_order_flow import (
    add_to_basket,
    checkout,
    pay_with_card,
    post_webhook,
    stripe_event_for,
)

CONTACT = "camille@example.org"  # what test_order_flow.checkout types in
two_shops = test_order_flow.two_shops  # the order-flow fixture, shared
MAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "shop" / "templates" / "shop" / "mail"


class Mail:
    """One delivered .eml: headers, text part and HTML part."""

    def __init__(self, path: Path) -> None:
        msg = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(msg, EmailMessage)
        self.to = str(msg["To"])
        self.subject = str(msg["Subject"])
        text_part = msg.get_body(("plain",))
        html_part = msg.get_body(("html",))
        assert text_part is not None and html_part is not None, "text and HTML parts"
        self.text = text_part.get_content()
        self.html = html_part.get_content()


@pytest.fixture
def mailbox(app) -> Callable[[], list[Mail]]:
    """The mails delivered since the test began (the folder is shared by the session)."""
    folder = Path(app.config["MAIL_FOLDER"])
    before = set(folder.glob("*.eml"))

    def delivered() -> list[Mail]:
        return [Mail(p) for p in sorted(set(folder.glob("*.eml")) - before)]

    return delivered


def place_and_pay(client, app, shops, locale="fr"):
    """A resident buys from both shops through the pages; returns order and webhook."""
    resident: Any = UserFactory(roles=[Role.RESIDENT], locale=locale, first_name="Camille")
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", shops["book"].id, 2)
    add_to_basket(client, "/panier", shops["cheese"].id, 1)
    response, _ = checkout(client, [shops["a"], shops["b"]])
    assert response.status_code == 302, response.text
    order: Any = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    assert pay_with_card(client, order).json["status"] == "succeeded"
    payload = stripe_event_for(order.payments[0].intent_id)
    assert post_webhook(client, app, payload).json["outcome"] == "paid"
    db.session.expire_all()
    return db.session.get(Order, order.id), payload


def sub_of(order: Order, shop) -> SubOrder:
    return next(s for s in order.sub_orders if s.shop_id == shop.id)


def test_paid_order_sends_one_confirmation(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    mails = mailbox()
    assert len(mails) == 1
    mail = mails[0]
    assert mail.to == CONTACT
    assert mail.subject == "Votre commande Comptoir est confirmée"
    for body in (mail.text, mail.html):
        assert "La Bouquinerie" in body and "Fromagerie du Marché" in body
        for sub in order.sub_orders:
            assert sub.pickup_code in body
            assert sub.reference in body
        assert "Retrait en boutique" in body
        assert "Roman" in body and "Tomme" in body
        assert "39,80\xa0€" in body  # the books
        assert "46,30\xa0€" in body  # the order
        assert "heure de Paris" in body
    assert '<html lang="fr">' in mail.html
    assert "<table" not in mail.html
    assert f"/commandes/{order.public_id}" in mail.text


def test_ready_time_is_paris_time(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = order.sub_orders[0]
    paris = ZoneInfo("Europe/Paris")
    expected = format_datetime(sub.ready_not_before, "EEEE d MMMM HH:mm", tzinfo=paris, locale="fr")
    assert expected in mailbox()[0].text


def test_duplicate_webhook_sends_no_second_confirmation(app, client, two_shops, mailbox):
    _, payload = place_and_pay(client, app, two_shops)
    assert post_webhook(client, app, payload).json["outcome"] == "duplicate"
    assert post_webhook(client, app, payload).json["outcome"] == "duplicate"
    assert len(mailbox()) == 1


def test_english_resident_gets_english(app, client, two_shops, mailbox):
    place_and_pay(client, app, two_shops, locale="en")
    (mail,) = mailbox()
    assert mail.subject == "Your Comptoir order is confirmed"
    assert '<html lang="en">' in mail.html
    for body in (mail.text, mail.html):
        assert "Hello Camille," in body
        assert "Pickup code" in body
        assert "€46.30" in body
        assert "Paris time" in body
        assert "Bonjour" not in body and "Code de retrait" not in body


def test_ready_for_pickup(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["a"])
    owner = two_shops["owner_a"]
    transition(sub, SubOrderStatus.ACCEPTED, owner, "shop")
    db.session.commit()
    assert len(mailbox()) == 1  # accepting sends nothing
    transition(sub, SubOrderStatus.READY, owner, "shop")
    db.session.commit()
    mails = mailbox()
    assert len(mails) == 2
    ready = next(m for m in mails if "prête" in m.subject)
    assert ready.subject == "La Bouquinerie : votre commande est prête"
    assert ready.to == CONTACT
    for body in (ready.text, ready.html):
        assert sub.pickup_code in body
        assert "1 rue de la Paix" in body and "47200 Marmande" in body
        assert "09:00 à 19:00" in body  # the factory's hours
        assert "fermé" in body  # Sunday is always among the next 7 days
    assert '<html lang="fr">' in ready.html
    assert "<address" in ready.html


def test_refused_sub_order_mails_why_and_refund(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["b"])
    transition(sub, SubOrderStatus.REFUSED, two_shops["owner_b"], "shop", "Rupture de tomme")
    db.session.commit()
    refused = [m for m in mailbox() if "refusée" in m.subject]
    assert len(refused) == 1
    assert refused[0].subject == "Fromagerie du Marché : commande refusée"
    for body in (refused[0].text, refused[0].html):
        assert "Rupture de tomme" in body
        assert "rembourser 6,50\xa0€" in body


def test_cancelled_sub_order_mails_in_english(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops, locale="en")
    sub = sub_of(order, two_shops["a"])
    transition(sub, SubOrderStatus.CANCELLED, order.user, "resident")
    db.session.commit()
    cancelled = [m for m in mailbox() if "cancelled" in m.subject]
    assert len(cancelled) == 1
    assert cancelled[0].subject == "La Bouquinerie: order cancelled"
    assert "as you asked" in cancelled[0].text
    assert "€39.80" in cancelled[0].text


def test_uncollected_sub_order_says_so(app, client, two_shops, mailbox, monkeypatch):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["a"])
    transition(sub, SubOrderStatus.ACCEPTED, two_shops["owner_a"], "shop")
    transition(sub, SubOrderStatus.READY, two_shops["owner_a"], "shop")
    db.session.commit()
    # The cancellation is the worker's: no request, and no SERVER_NAME in production.
    monkeypatch.setitem(app.config, "SERVER_NAME", None)
    with app.app_context():
        worker_sub = db.session.get(SubOrder, sub.id)
        transition(worker_sub, SubOrderStatus.CANCELLED, None, "system", "non retirée sous 7 jours")
        db.session.commit()
    cancelled = [m for m in mailbox() if "annulée" in m.subject]
    assert len(cancelled) == 1
    assert "n'a pas été retirée à temps" in cancelled[0].text
    assert "non retirée sous" not in cancelled[0].text  # internal notes stay internal
    # Sent outside any request, the mail still has the order's link.
    base = app.config["PUBLIC_URL"].rstrip("/")
    assert f"{base}/commandes/{order.public_id}" in cancelled[0].text


def test_unpaid_order_cancelled_sends_nothing(app, client, two_shops, mailbox):
    resident: Any = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", two_shops["book"].id, 1)
    checkout(client, [two_shops["a"]])
    order: Any = db.session.scalar(select(Order).where(Order.user_id == resident.id))
    transition(order.sub_orders[0], SubOrderStatus.CANCELLED, None, "system", "expiré")
    db.session.commit()
    assert mailbox() == []


def test_refund_mail_once_with_the_amount(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["a"])
    transition(sub, SubOrderStatus.REFUSED, two_shops["owner_a"], "shop")
    db.session.commit()
    assert len(mailbox()) == 2
    # The refund operation may announce it and move the status, in either order:
    # one mail, with the amount announced.
    transition(sub, SubOrderStatus.REFUNDED, None, "system")
    events.suborder_refunded.send(sub, refund=SimpleNamespace(amount_cents=3980), full=True)
    db.session.commit()
    refunds = [m for m in mailbox() if m.subject.startswith("Remboursement")]
    assert len(refunds) == 1
    assert refunds[0].subject == "Remboursement de 39,80\xa0€"
    assert "partiel" not in refunds[0].text


def test_partial_refund_mail(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops, locale="en")
    sub = sub_of(order, two_shops["a"])
    events.suborder_refunded.send(sub, amount_cents=1990)
    db.session.commit()
    (refund,) = [m for m in mailbox() if m.subject.startswith("Refund")]
    assert refund.subject == "Refund of €19.90"
    assert "partial refund" in refund.text


def test_refund_status_alone_mails_the_sub_order_total(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["b"])
    transition(sub, SubOrderStatus.CANCELLED, None, "system")
    transition(sub, SubOrderStatus.REFUNDED, None, "system")
    db.session.commit()
    refunds = [m for m in mailbox() if m.subject.startswith("Remboursement")]
    assert [m.subject for m in refunds] == ["Remboursement de 6,50\xa0€"]


def test_rolled_back_transition_sends_nothing(app, client, two_shops, mailbox):
    order, _ = place_and_pay(client, app, two_shops)
    sub = sub_of(order, two_shops["b"])
    transition(sub, SubOrderStatus.REFUSED, None, "system")
    transition(sub, SubOrderStatus.REFUNDED, None, "system")
    db.session.rollback()
    db.session.commit()
    assert len(mailbox()) == 1


def test_text_templates_are_translated() -> None:
    """Only the .html templates are extracted: every text msgid must be in them too."""
    catalog = read_catalog()
    msgids = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(MAIL_TEMPLATES),
            method_map=[("**.txt", "jinja2"), ("**.html", "jinja2")],
        )
    }
    assert msgids
    missing = [m for m in msgids if not getattr(catalog.get(m), "string", None)]
    assert missing == []
