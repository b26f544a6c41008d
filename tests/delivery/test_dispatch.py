"""Dispatch: a new job offered to the available couriers nearest its shop (offers
recorded), wider when nobody accepts in time, then flagged for staff; the staff's
board of the day with manual assignment and reassignment."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from delivery import tasks
from delivery.models import DeliveryJob, JobEvent, JobEventKind, JobStatus
from delivery.operations import dispatch, jobs
from marketplace.extensions import db
from marketplace.models import Role, utcnow
from tests.delivery.courier_helpers import approved_courier, ready_job, set_courier_settings
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import form_post, login
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

BOARD = "/collectivite/livreurs/dispatch"


def _offers(job: DeliveryJob) -> list[int]:
    return list(
        db.session.scalars(
            select(JobEvent.courier_id)
            .where(JobEvent.job_id == job.id, JobEvent.kind == JobEventKind.OFFERED)
            .order_by(JobEvent.id)
        )
    )


def test_offered_nearest_first_then_wider_then_flagged(app, two_shops):  # noqa: F811
    _, job = ready_job(two_shops)  # shop at 44.5, 0.16
    tid = job.territory_id
    set_courier_settings(tid, dispatch_batch=1, dispatch_radius_km=5, dispatch_wait_minutes=10)
    far = approved_courier(tid, 44.55, 0.16)  # ~5.6 km: outside the first radius
    near = approved_courier(tid, 44.505, 0.16)  # ~0.6 km
    nearer = approved_courier(tid, 44.501, 0.16)  # ~0.1 km
    approved_courier(tid, 44.5, 0.16, available=False)  # never offered
    approved_courier(tid, None, None)  # no position: never offered

    assert tasks.dispatch_job(job.id) == 1  # as the task runs it after commit
    db.session.expire_all()
    job = db.session.get(DeliveryJob, job.id)
    assert _offers(job) == [nearer.id] and job.offer_round == 1
    # Before the wait: nothing happens.
    assert dispatch.escalate(utcnow() + timedelta(minutes=5)) == (0, 0)
    # Round 2: radius 10 km, two couriers, those not offered yet.
    assert dispatch.escalate(utcnow() + timedelta(minutes=11)) == (1, 0)
    assert _offers(job) == [nearer.id, near.id, far.id]
    # Rounds spent: flagged for staff.
    assert dispatch.escalate(utcnow() + timedelta(minutes=30)) == (0, 1)
    assert job.escalated_at is not None
    assert [e.kind for e in job.events][-1] is JobEventKind.ESCALATED
    assert dispatch.escalate(utcnow() + timedelta(minutes=60)) == (0, 0)
    # An offered courier sees it marked on the page.
    rows = jobs.open_jobs_near(near)
    assert rows[0].offered is True


def test_flagged_jobs_one_rule_for_board_and_map(app, client, two_shops):  # noqa: F811
    """`dispatch.is_flagged`: offers spent and still open; listed first, marked in
    the table and on the map, and no longer once a courier has it."""
    _, calm = ready_job(two_shops)
    _, job = ready_job(two_shops)
    staff = UserFactory(roles=[Role.STAFF])
    courier = approved_courier(job.territory_id)
    job.escalated_at = utcnow()
    assert dispatch.is_flagged(job) and not dispatch.is_flagged(calm)
    assert dispatch.todays_board()[0] is job
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get(BOARD).text
    assert f'<tr id="job-{job.id}" class="flagged">' in page
    assert f'<tr id="job-{calm.id}">' in page
    assert '"flagged": true' in page.replace('"flagged":true', '"flagged": true')
    jobs.accept(job.id, courier)
    assert not dispatch.is_flagged(job)
    assert dispatch.todays_board()[0] is calm


def test_accepted_jobs_are_not_offered(app, two_shops):  # noqa: F811
    _, job = ready_job(two_shops)
    courier = approved_courier(job.territory_id)
    jobs.accept(job.id, courier)
    assert dispatch.offer(job) == []
    assert dispatch.escalate(utcnow() + timedelta(hours=1)) == (0, 0)


def test_the_escalation_task(app, two_shops):  # noqa: F811
    _, job = ready_job(two_shops)
    set_courier_settings(job.territory_id, dispatch_wait_minutes=0)
    approved_courier(job.territory_id)
    job_id = job.id
    assert tasks.escalate_dispatch() == (1, 0)  # never offered: offered now
    assert len(_offers(db.session.get(DeliveryJob, job_id))) == 1


def test_staff_assign_and_reassign(app, client, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    first, second = approved_courier(job.territory_id), approved_courier(job.territory_id)
    staff = UserFactory(roles=[Role.STAFF])
    job_id = job.id
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get(BOARD)
    assert page.status_code == 200 and sub.reference in page.text
    assert 'id="dispatch-map-data"' in page.text  # the map: progressive enhancement
    form_post(
        client,
        BOARD,
        f"/collectivite/livreurs/courses/{job_id}/attribuer",
        {"courier_id": first.id},
    )
    db.session.expire_all()
    job = db.session.get(DeliveryJob, job_id)
    assert job.status is JobStatus.ACCEPTED and job.courier_id == first.id
    form_post(
        client,
        BOARD,
        f"/collectivite/livreurs/courses/{job_id}/attribuer",
        {"courier_id": second.id},
    )
    db.session.expire_all()
    job = db.session.get(DeliveryJob, job_id)
    assert job.courier_id == second.id
    kinds = [(e.kind, e.courier_id) for e in job.events]
    assert (JobEventKind.RELEASED, first.id) in kinds
    assert kinds[-1] == (JobEventKind.ASSIGNED, second.id)
    assert kinds[-1] and job.events[-1].actor_id == staff.id
    # Taken back: open again.
    form_post(client, BOARD, f"/collectivite/livreurs/courses/{job_id}/attribuer", {})
    db.session.expire_all()
    job = db.session.get(DeliveryJob, job_id)
    assert job.status is JobStatus.OPEN and job.courier_id is None


def test_no_assignment_once_picked_up(app, two_shops):  # noqa: F811
    sub, job = ready_job(two_shops)
    first, second = approved_courier(job.territory_id), approved_courier(job.territory_id)
    staff = UserFactory(roles=[Role.STAFF])
    jobs.accept(job.id, first)
    jobs.pick_up(job, first, sub.pickup_code)
    for action in (
        lambda: dispatch.assign(job, second, staff),
        lambda: dispatch.release(job, staff),
    ):
        try:
            action()
        except jobs.JobError:
            pass
        else:
            raise AssertionError("a picked-up job changed courier")
    assert job.courier_id == first.id
    assert job in dispatch.todays_board()


# --- rounds: nearest neighbour improved by 2-opt ----------------------------------------


def test_round_order_is_a_permutation_and_never_longer():
    import random

    rng = random.Random(47200)
    start = (44.5, 0.16)
    ratios = []
    for _ in range(40):
        stops = [
            (44.5 + rng.uniform(-0.05, 0.05), 0.16 + rng.uniform(-0.07, 0.07))
            for _ in range(rng.randint(8, 14))
        ]
        order = dispatch.optimise_round(start, stops)
        assert sorted(order) == list(range(len(stops)))
        naive = dispatch.round_km(start, stops, list(range(len(stops))))
        best = dispatch.round_km(start, stops, order)
        assert best <= naive + 1e-9
        ratios.append(best / naive)
    # The target: at least 20% shorter than the order of creation.
    assert sum(ratios) / len(ratios) <= 0.8


def test_small_rounds():
    assert dispatch.optimise_round((44.5, 0.16), []) == []
    assert dispatch.optimise_round((44.5, 0.16), [(44.6, 0.2)]) == [0]
    # On a line, the order is along the line.
    stops = [(44.53, 0.16), (44.51, 0.16), (44.52, 0.16)]
    assert dispatch.optimise_round((44.5, 0.16), stops) == [1, 2, 0]
