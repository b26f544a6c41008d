"""The resident follows an express delivery: mails when the parcel is on its way
(slot and delivery code), delivered, or not delivered (reason, back to the shop);
the order page's "Suivi de livraison" with the timeline, the code and the reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from delivery.operations import jobs
from marketplace.extensions import db
from marketplace.models import MailOutbox
from shop.models import SubOrder, SubOrderStatus
from shop.operations import orders as order_ops
from tests.delivery.courier_helpers import approved_courier, express_sub, ready_job
from tests.factories import DEFAULT_PASSWORD
from tests.helpers import login, main_text
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

S = SubOrderStatus


def mails_of(sub: SubOrder) -> list[MailOutbox]:
    db.session.flush()
    return list(
        db.session.scalars(
            select(MailOutbox)
            .where(MailOutbox.to == sub.order.contact_email)
            .order_by(MailOutbox.created_at)
        )
    )


def about(sub: SubOrder, word: str) -> list[MailOutbox]:
    return [m for m in mails_of(sub) if word in m.subject and sub.reference in m.body_text]


def picked_up(shops: dict[str, Any]) -> tuple[SubOrder, Any, Any]:
    sub, job = ready_job(shops)
    courier = approved_courier(job.territory_id)
    jobs.accept(job.id, courier)
    jobs.pick_up(job, courier, sub.pickup_code)
    return sub, job, courier


def test_one_en_route_mail_with_the_code(app, two_shops):  # noqa: F811
    sub, job, _courier = picked_up(two_shops)
    assert sub.status is S.OUT_FOR_DELIVERY
    en_route = about(sub, "en route")
    assert len(en_route) == 1  # handed to courier then out for delivery: one mail
    mail = en_route[0]
    assert job.delivery_code in mail.body_text
    assert mail.body_html is not None and job.delivery_code in mail.body_html
    assert "livreur" in mail.body_text


def test_delivered_mail(app, two_shops):  # noqa: F811
    sub, job, courier = picked_up(two_shops)
    jobs.deliver(job, courier, job.delivery_code)
    delivered = about(sub, "livrée")
    assert len(delivered) == 1
    assert "a été livrée" in delivered[0].body_text
    assert job.delivery_code not in delivered[0].body_text


def test_failed_delivery_mail(app, two_shops):  # noqa: F811
    sub, job, courier = picked_up(two_shops)
    jobs.fail(job, courier, "Personne à l'interphone")
    failed = about(sub, "livraison impossible")
    assert len(failed) == 1
    body = failed[0].body_text
    assert "Personne à l'interphone" in body
    assert "retourne à la boutique" in body and "contacter" in body
    assert failed[0].body_html is not None and "interphone" in (failed[0].body_html or "")


def test_mails_in_english(app, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    sub.order.user.locale = "en"
    courier = approved_courier(job.territory_id)
    jobs.accept(job.id, courier)
    jobs.pick_up(job, courier, sub.pickup_code)
    jobs.fail(job, courier, "Nobody home")
    subjects = [m.subject for m in mails_of(sub)]
    assert any("on its way" in s for s in subjects), subjects
    assert any("could not be delivered" in s for s in subjects), subjects


def page_text(client, sub: SubOrder) -> str:
    email, public_id = sub.order.user.email, sub.order.public_id
    db.session.commit()
    login(client, email, DEFAULT_PASSWORD)
    page = client.get(f"/commandes/{public_id}")
    assert page.status_code == 200, page.status_code
    return main_text(page.text)


def test_tracking_shows_the_code_while_on_the_way(app, client, two_shops):  # noqa: F811
    sub, job, _courier = picked_up(two_shops)
    code = job.delivery_code
    text = page_text(client, sub)
    assert "Suivi de livraison" in text
    assert "Remise au livreur" in text and "En cours de livraison" in text
    assert "à venir" in text  # delivered is still to come
    assert code in text


def test_tracking_of_a_delivered_order_hides_the_code(app, client, two_shops):  # noqa: F811
    sub, job, courier = picked_up(two_shops)
    jobs.deliver(job, courier, job.delivery_code)
    code = job.delivery_code
    text = page_text(client, sub)
    assert "Suivi de livraison" in text and "Livrée" in text
    assert "à venir" not in text
    assert code not in text


def test_tracking_of_a_failed_delivery(app, client, two_shops):  # noqa: F811
    sub, job, courier = picked_up(two_shops)
    jobs.fail(job, courier, "Adresse introuvable")
    text = page_text(client, sub)
    assert "Livraison impossible : Adresse introuvable" in text
    assert "retourne à la boutique" in text
    assert job.delivery_code not in text


def test_open_job_code_shown_before_pickup(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    code = job.delivery_code
    text = page_text(client, sub)
    assert "Suivi de livraison" in text and code in text


def test_page_queries_do_not_grow_with_deliveries(app, client, two_shops, count_queries):  # noqa: F811
    one = express_sub(two_shops, "a")
    first, second = express_sub(two_shops, "a"), express_sub(two_shops, "b")
    resident = one.order.user
    for sub in (first, second):
        sub.order.user_id = resident.id
    second.order_id = first.order_id
    db.session.flush()
    for sub in (one, first):
        order_ops.mark_ready(sub, two_shops["owner_a"])
    order_ops.mark_ready(second, two_shops["owner_b"])
    paths = [f"/commandes/{one.order.public_id}", f"/commandes/{first.order.public_id}"]
    email = resident.email
    db.session.commit()
    login(client, email, DEFAULT_PASSWORD)
    for path in paths:
        client.get(path)  # warm up
        with count_queries() as counter:
            page = client.get(path)
        assert page.status_code == 200
        assert page.text.count("Suivi de livraison") == (1 if path == paths[0] else 2)
        # One query each for the histories, the jobs and the refunds, whatever the
        # sub-orders.
        for table in ("FROM delivery_job", "FROM sub_order_event", "FROM refund"):
            assert sum(table in sql for sql in counter.statements) == 1, table
