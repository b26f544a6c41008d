"""Delivery jobs: made when the shop marks an express sub-order ready, accepted by
one courier (also under concurrency, on PostgreSQL), picked up with the pickup code,
delivered with the resident's delivery code or failed with a reason; each step moves
the sub-order (handed to courier → out for delivery → delivered / delivery failed)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from delivery.models import Courier, DeliveryJob, JobEvent, JobEventKind, JobStatus
from delivery.operations import couriers, jobs
from marketplace import events
from marketplace.extensions import db
from marketplace.models import Role
from shop.models import SubOrder, SubOrderStatus
from shop.operations import orders as order_ops
from tests.delivery.courier_helpers import approved_courier, express_sub, ready_job
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import form_post, login, main_text
from tests.merchants.sales_data import make_sale
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

S = SubOrderStatus
HOME = "/livreur/"


def test_ready_express_sub_order_makes_one_job(app, two_shops):  # noqa: F811
    issued = []

    def listen(job, **kw):
        issued.append(kw)

    with jobs.delivery_code_issued.connected_to(listen):
        sub, job = ready_job(two_shops)
    assert job.status is JobStatus.OPEN and job.courier_id is None
    assert job.shop_id == two_shops["a"].id and job.pickup_code == sub.pickup_code
    assert len(job.delivery_code) == 6 and job.delivery_code.isdigit()
    assert job.fee_cents == couriers.DEFAULT_JOB_CENTS
    assert issued == [{"sub_order_id": sub.id, "code": job.delivery_code}]
    assert [e.kind for e in job.events] == [JobEventKind.CREATED]
    # Idempotent: the same sub-order announced again gets no second job.
    assert jobs.create_job(sub) is job
    count = db.session.scalar(
        select(func.count()).select_from(DeliveryJob).where(DeliveryJob.sub_order_id == sub.id)
    )
    assert count == 1


def test_click_and_collect_makes_no_job(app, two_shops):  # noqa: F811
    resident = two_shops["owner_b"]
    sub = make_sale(two_shops["a"], resident, [(two_shops["book"], 1)], None, status=S.ACCEPTED)
    order_ops.mark_ready(sub, two_shops["owner_a"])
    assert jobs.job_for_sub_order(sub.id) is None


def test_full_delivery_moves_the_sub_order(app, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    completed = []

    def listen(j, **kw):
        completed.append(j.id)

    jobs.accept(job.id, courier)
    assert job.status is JobStatus.ACCEPTED and job.courier_id == courier.id
    assert sub.status is S.READY
    with pytest.raises(jobs.WrongCode):
        jobs.pick_up(job, courier, "nope")
    jobs.pick_up(job, courier, f" {sub.pickup_code} ")
    assert sub.status is S.OUT_FOR_DELIVERY
    assert [e.to_status for e in sub.history][-2:] == [S.HANDED_TO_COURIER, S.OUT_FOR_DELIVERY]
    assert sub.history[-1].actor_id == courier.user_id
    wrong = "000000" if job.delivery_code != "000000" else "111111"
    with pytest.raises(jobs.WrongCode):
        jobs.deliver(job, courier, wrong)
    assert sub.status is S.OUT_FOR_DELIVERY
    with events.delivery_completed.connected_to(listen):
        jobs.deliver(job, courier, job.delivery_code)
    assert job.status is JobStatus.DELIVERED and job.finished_at is not None
    assert sub.status is S.DELIVERED
    assert job.id in completed
    assert couriers.earnings_cents(courier) == job.fee_cents


def test_failed_delivery(app, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    jobs.accept(job.id, courier)
    with pytest.raises(jobs.JobError):
        jobs.fail(job, courier, "absent")  # not picked up yet
    jobs.pick_up(job, courier, sub.pickup_code)
    with pytest.raises(jobs.JobError):
        jobs.fail(job, courier, "  ")
    jobs.fail(job, courier, "Client absent,  personne à l'interphone")
    assert job.status is JobStatus.FAILED
    assert job.failure_reason == "Client absent, personne à l'interphone"
    assert sub.status is S.DELIVERY_FAILED
    assert couriers.earnings_cents(courier) == 0


def test_only_the_couriers_own_job(app, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    mine, other = approved_courier(job.territory_id), approved_courier(job.territory_id)
    jobs.accept(job.id, mine)
    with pytest.raises(jobs.JobTaken):
        jobs.accept(job.id, other)
    with pytest.raises(jobs.JobError):
        jobs.pick_up(job, other, sub.pickup_code)
    assert job.courier_id == mine.id


def test_open_jobs_sorted_by_distance(app, two_shops):  # noqa: F811
    _, near_job = ready_job(two_shops, "a")
    _, far_job = ready_job(two_shops, "b")
    far_job.shop_latitude, far_job.shop_longitude = 44.6, 0.3  # ~15 km away
    db.session.flush()
    courier = approved_courier(near_job.territory_id, lat=44.5, lon=0.16)
    rows = jobs.open_jobs_near(courier)
    assert [r.job.id for r in rows] == [near_job.id, far_job.id]
    assert rows[0].distance_km < 0.1 and rows[1].distance_km > 10
    # From a position given in the page (geolocation), the order turns round.
    rows = jobs.open_jobs_near(courier, 44.6, 0.3)
    assert [r.job.id for r in rows] == [far_job.id, near_job.id]


def test_the_courier_pages(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    user_email = db.session.get(Courier, courier.id).user.email
    job_id, pickup, code = job.id, sub.pickup_code, job.delivery_code
    db.session.commit()
    login(client, user_email, DEFAULT_PASSWORD)
    home = client.get(HOME).text
    assert two_shops["a"].name in home and f"/livreur/courses/{job_id}/accepter" in home
    form_post(client, HOME, f"/livreur/courses/{job_id}/accepter", {})
    response = form_post(client, HOME, f"/livreur/courses/{job_id}/retrait", {"code": "1"})
    assert response.status_code == 302
    assert "code de retrait" in main_text(client.get(HOME).text)
    form_post(client, HOME, f"/livreur/courses/{job_id}/retrait", {"code": pickup})
    form_post(client, HOME, f"/livreur/courses/{job_id}/livraison", {"code": code})
    db.session.expire_all()
    assert db.session.get(DeliveryJob, job_id).status is JobStatus.DELIVERED
    assert db.session.get(SubOrder, sub.id).status is S.DELIVERED
    history = client.get("/livreur/historique")
    assert history.status_code == 200 and sub.reference in history.text
    assert "4,50" in history.text


def test_another_couriers_job_is_not_found(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    mine, other = approved_courier(job.territory_id), approved_courier(job.territory_id)
    jobs.accept(job.id, mine)
    email = other.user.email
    db.session.commit()
    login(client, email, DEFAULT_PASSWORD)
    response = form_post(
        client, HOME, f"/livreur/courses/{job.id}/retrait", {"code": sub.pickup_code}
    )
    assert response.status_code == 404


# --- one courier per job, under concurrency ------------------------------------------


def test_two_couriers_accepting_at_once_one_wins(committed_app):
    """Each thread its own app context, session and connection; a barrier makes
    their conditional UPDATEs race on PostgreSQL."""
    shop = ShopFactory(commune=CommuneFactory())
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    shops = {
        "a": shop,
        "owner_a": owner,
        "book": VariantFactory(product__shop=shop, price_cents=1990, stock=3),
    }
    sub = express_sub(shops)
    order_ops.mark_ready(sub, shops["owner_a"])
    job = jobs.job_for_sub_order(sub.id)
    ids = [approved_courier(job.territory_id).id for _ in range(6)]
    job_id = job.id
    db.session.commit()
    barrier = threading.Barrier(len(ids))
    won: list[int] = []
    lost: list[int] = []
    crashed: list[BaseException] = []
    lock = threading.Lock()

    def race(courier_id: int) -> None:
        try:
            with committed_app.app_context():
                courier = db.session.get(Courier, courier_id)
                db.session.commit()
                barrier.wait(timeout=30)
                try:
                    jobs.accept(job_id, courier)
                    db.session.commit()
                    with lock:
                        won.append(courier_id)
                except jobs.JobTaken:
                    db.session.rollback()
                    with lock:
                        lost.append(courier_id)
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported below
            with lock:
                crashed.append(exc)

    threads = [threading.Thread(target=race, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not crashed, crashed
    assert len(won) == 1 and len(lost) == len(ids) - 1
    db.session.expire_all()
    final = db.session.get(DeliveryJob, job_id)
    assert final.status is JobStatus.ACCEPTED and final.courier_id == won[0]
    accepted = db.session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == JobEventKind.ACCEPTED)
    ).all()
    assert [e.courier_id for e in accepted] == won
    assert Role.COURIER  # the couriers were approved with the role


def test_the_resident_is_mailed_the_delivery_code(app, two_shops):  # noqa: F811
    from marketplace.models import MailOutbox

    sub, job = ready_job(two_shops)
    mails = db.session.scalars(
        select(MailOutbox).where(MailOutbox.to == sub.order.contact_email)
    ).all()
    coded = [m for m in mails if job.delivery_code in m.body_text]
    assert len(coded) == 1 and "code de livraison" in coded[0].subject


def test_the_resident_sees_the_delivery_states(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    jobs.accept(job.id, courier)
    jobs.pick_up(job, courier, sub.pickup_code)
    jobs.deliver(job, courier, job.delivery_code)
    resident_email, public_id = sub.order.user.email, sub.order.public_id
    db.session.commit()
    login(client, resident_email, DEFAULT_PASSWORD)
    page = client.get(f"/commandes/{public_id}")
    assert page.status_code == 200, page.status_code
    text = main_text(page.text)
    assert "Livrée" in text and "En cours de livraison" in text and "Remise au livreur" in text
