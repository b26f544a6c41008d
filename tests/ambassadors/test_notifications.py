"""The Cityzen's mail when a reward run credits their links: one mail a run, in their
language, products and amounts only, sent through the outbox once the run commits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ambassadors import operations as cz
from ambassadors.models import AttributionStatus
from ambassadors.notifications import DASHBOARD as DASHBOARD_ENDPOINT
from marketplace.extensions import db
from marketplace.mail import public_url
from marketplace.models import MailOutbox
from shop.operations import refunds as refund_ops
from tests.ambassadors.conftest import attributions, click, config, fulfil, later, pay, place
from tests.shop import test_notifications as shop_mail

mailbox = shop_mail.mailbox  # the shop's delivered-mail fixture, shared
Mail = shop_mail.Mail
DASHBOARD = "http://comptoir.test/cityzens/mon-credit"


@pytest.fixture
def alice(world: dict[str, Any]) -> Any:
    """Alice recommends the pen too; her account's name differs from the buyer's."""
    alice = world["alice"]
    alice.first_name = "Alice"
    world["rec_pen"] = cz.recommend(cz.cityzen_of(alice), world["pen"].product_id, "Il glisse.")
    buyer = world["buyer"]
    buyer.first_name, buyer.last_name = "Maëlle", "Durand"
    db.session.commit()
    return alice


def buy_book_and_pen(app, world) -> Any:
    """2 books (39,80 €: 1,19 € reward) and a pen (6,50 €: 0,20 €) through Alice's
    links, paid and collected: both rewards due after the withdrawal period."""
    click(world["rec_alice"], visitor="v1")
    click(world["rec_pen"], visitor="v1")
    order = place(app, world["buyer"], [(world["book"], 2), (world["pen"], 1)], visitor="v1")
    pay(order)
    fulfil(order.sub_orders[0])
    db.session.commit()
    return order


def run(days: float = 15) -> int:
    """The reward run's own transaction, as the task and the command make it."""
    count = cz.credit_due_rewards(now=later(days))
    db.session.commit()
    return count


def mails_to(mailbox, user) -> list[Mail]:
    return [m for m in mailbox() if m.to == user.email]


def test_one_mail_for_two_rewards_in_french(app, world, alice, mailbox):
    buy_book_and_pen(app, world)
    assert run() == 2
    (mail,) = mails_to(mailbox, alice)
    assert mail.subject == "Vos liens Cityzen vous ont rapporté 1,39\xa0€"
    for body in (mail.text, mail.html):
        assert "Bonjour Alice," in body
        assert "Roman : 1,19\xa0€" in body
        assert "Stylo : 0,20\xa0€" in body
        assert "Votre crédit Comptoir est maintenant de 1,39\xa0€." in body
        assert "« Utiliser mon crédit Comptoir »" in body
        assert DASHBOARD in body
    assert '<html lang="fr">' in mail.html
    assert f'href="{DASHBOARD}"' in mail.html
    assert mails_to(mailbox, world["bob"]) == []  # last click wins: Alice's


def test_mail_in_english_for_an_english_speaking_cityzen(app, world, alice, mailbox):
    alice.locale = "en"
    buy_book_and_pen(app, world)
    run()
    (mail,) = mails_to(mailbox, alice)
    assert mail.subject == "Your Cityzen links earned you €1.39"
    for body in (mail.text, mail.html):
        assert "Hello Alice," in body
        assert "Roman: €1.19" in body and "Stylo: €0.20" in body
        assert "Your Comptoir credit is now €1.39." in body
        assert "“Use my Comptoir credit”" in body
        assert "crédit" not in body
    assert '<html lang="en">' in mail.html


def test_second_run_mails_nothing_and_a_later_credit_shows_the_wallet(app, world, alice, mailbox):
    buy_book_and_pen(app, world)
    run()
    assert run() == 0
    assert len(mails_to(mailbox, alice)) == 1
    # Another sale later: the mail says what is credited now and the wallet's total.
    click(world["rec_pen"], visitor="v2")
    order = place(app, world["buyer"], [(world["pen"], 1)], visitor="v2")
    pay(order)
    fulfil(order.sub_orders[0])
    db.session.commit()
    assert run(30) == 1
    mails = mails_to(mailbox, alice)  # .eml names sort by the second: find it by subject
    assert len(mails) == 2
    (second,) = [m for m in mails if m.subject.endswith("0,20\xa0€")]
    assert "Stylo : 0,20\xa0€" in second.text and "Roman" not in second.text
    assert "Votre crédit Comptoir est maintenant de 1,59\xa0€." in second.text


def test_nothing_due_yet_mails_nothing(app, world, alice, mailbox):
    order = buy_book_and_pen(app, world)
    assert run(days=1) == 0  # within the 14-day withdrawal period
    assert mails_to(mailbox, alice) == []
    assert {a.status for a in attributions(order)} == {AttributionStatus.PENDING}


def test_mail_has_no_buyer_data(app, world, alice, mailbox):
    order = buy_book_and_pen(app, world)
    run()
    (mail,) = mails_to(mailbox, alice)
    buyer = world["buyer"]
    private = [
        "Maëlle",
        "Durand",
        "Camille",  # the order's contact: Camille Martin, camille@example.org
        "Martin",
        "camille@example.org",
        buyer.email,
        order.public_id and str(order.public_id),
        *(sub.reference for sub in order.sub_orders),
    ]
    for body in (mail.subject, mail.text, mail.html):
        assert [p for p in private if p and p in body] == []


def test_rolled_back_run_sends_nothing(app, world, alice, mailbox):
    order = buy_book_and_pen(app, world)
    outbox_before = db.session.scalar(select(func.count()).select_from(MailOutbox))
    assert cz.credit_due_rewards(now=later(15)) == 2
    db.session.rollback()
    db.session.commit()
    assert mails_to(mailbox, alice) == []
    assert db.session.scalar(select(func.count()).select_from(MailOutbox)) == outbox_before
    assert {a.status for a in attributions(order)} == {AttributionStatus.PENDING}
    # The next run that commits credits and mails, once.
    assert run() == 2
    assert len(mails_to(mailbox, alice)) == 1


def test_reversed_reward_is_not_mailed(app, world, alice, mailbox):
    """A refund after the credit reverses the reward: the dashboard shows it, no mail."""
    order = buy_book_and_pen(app, world)
    run()
    lines = {a.order_line.product_name: a.order_line for a in attributions(order)}
    pen_line = lines["Stylo"]
    refund_ops.refund(order.sub_orders[0], None, "system", lines={pen_line.id: 1})
    db.session.commit()
    assert run(30) == 0
    assert len(mails_to(mailbox, alice)) == 1
    assert {a.order_line.product_name: a.status for a in attributions(order)}["Stylo"] is (
        AttributionStatus.REVERSED
    )


def test_link_is_built_without_a_request_nor_server_name(app):
    """The worker has no request and production sets no SERVER_NAME: PUBLIC_URL only."""
    with config(app, SERVER_NAME=None, PUBLIC_URL="https://comptoir.example/vga/"):
        assert public_url(DASHBOARD_ENDPOINT) == "https://comptoir.example/vga/cityzens/mon-credit"
