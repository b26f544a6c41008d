"""Rounds: the open jobs of one slot grouped (max stops, couriers' capacity), their
stops ordered by the 2-opt code with the distance saved against the order of
creation; given to one courier (every job, one winner under concurrency), changed by
hand, followed to the end; the staff's board, the courier's page and API."""

from __future__ import annotations

import html
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from delivery import tasks
from delivery.models import (
    Courier,
    DeliveryJob,
    JobEventKind,
    JobStatus,
    Round,
    RoundStatus,
    RoundStop,
)
from delivery.operations import dispatch, jobs, rounds
from marketplace.api_auth import create_token
from marketplace.extensions import db
from marketplace.models import Role, utcnow
from shop.operations import orders as order_ops
from tests.delivery.courier_helpers import approved_courier, express_sub, set_courier_settings
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import form_post, login, main_text
from tests.shop.test_order_flow import two_shops  # noqa: F401 - fixture

BOARD = "/collectivite/livreurs/dispatch"
ROUNDS = "/collectivite/livreurs/tournees"
KM = 0.009  # about a kilometre of latitude


def _slot(hours: int = 2):  # type: ignore[no-untyped-def]
    return (utcnow() + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def slot_job(shops, slot, north_km: float = 1.0, shop_key: str = "a") -> DeliveryJob:  # type: ignore[no-untyped-def]
    """A ready express sub-order of the slot, dropped `north_km` north of the shop."""
    sub = express_sub(shops, shop_key)
    sub.delivery_slot_start = slot
    sub.delivery_slot_end = slot + timedelta(hours=2)
    sub.delivery_latitude = 44.5 + north_km * KM
    sub.delivery_longitude = 0.16
    sub.delivery_address = f"{north_km} km au nord"
    order_ops.mark_ready(sub, shops[f"owner_{shop_key}"])
    job = jobs.job_for_sub_order(sub.id)
    assert job is not None and job.slot_start == slot
    return job


def _positions(rnd: Round) -> list[int]:
    return [stop.job_id for stop in sorted(rnd.stops, key=lambda s: s.position)]


def _expect(error: type[Exception], action, text: str = "") -> Exception:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as caught:
        action()
    assert text in str(caught.value)
    return caught.value


# --- planning ---------------------------------------------------------------------------


def test_a_slot_planned_in_the_optimised_order(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (3, 1, 4, 2)]  # creation order
    other_slot = slot_job(two_shops, slot + timedelta(hours=2), 1)
    staff = UserFactory(roles=[Role.STAFF])
    (rnd,) = rounds.plan_slot(made[0].territory_id, slot, staff)
    by_km = {3: made[0], 1: made[1], 4: made[2], 2: made[3]}
    # Along the line, nearest first: 1, 2, 3, 4 km.
    assert _positions(rnd) == [by_km[k].id for k in (1, 2, 3, 4)]
    assert [s.position for s in rnd.stops] == [1, 2, 3, 4]
    assert {s.pickup_position for s in rnd.stops} == {1}  # one shop
    assert rnd.status is RoundStatus.PLANNED and rnd.courier_id is None
    assert rnd.created_by_id == staff.id
    assert (rnd.slot_start, rnd.slot_end) == (slot, slot + timedelta(hours=2))
    # 4 km optimised against 3 + 2 + 3 + 2 = 10 km in the order of creation.
    assert 3900 < rnd.optimised_m < 4100 and 9900 < rnd.creation_order_m < 10100
    assert rnd.saved_m == rnd.creation_order_m - rnd.optimised_m
    assert other_slot.id not in _positions(rnd)
    # Idempotent: nothing new the second time, nor through the task.
    assert rounds.plan_slot(made[0].territory_id, slot) == []
    assert tasks.plan_rounds(made[0].territory_id, slot.isoformat()) == []
    assert db.session.scalar(select(func.count(Round.id))) == 1
    # The task plans the other slot.
    (new_id,) = tasks.plan_rounds(other_slot.territory_id, other_slot.slot_start.isoformat())
    assert _positions(db.session.get(Round, new_id)) == [other_slot.id]


def test_two_shops_collected_first(app, two_shops):  # noqa: F811
    two_shops["b"].latitude = 44.49  # the cheese shop 1.1 km south
    db.session.flush()
    slot = _slot()
    cheese = slot_job(two_shops, slot, 2, "b")
    book = slot_job(two_shops, slot, 1, "a")
    (rnd,) = rounds.plan_slot(book.territory_id, slot)
    pickups = {s.job_id: s.pickup_position for s in rnd.stops}
    assert sorted(pickups.values()) == [1, 2]
    assert _positions(rnd) == [book.id, cheese.id]  # from the last shop, nearest drop first
    assert rnd.optimised_m <= rnd.creation_order_m


def test_rounds_no_longer_than_settings_and_couriers_allow(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in range(1, 8)]
    tid = made[0].territory_id
    set_courier_settings(tid, round_max_stops=3)
    planned = rounds.plan_slot(tid, slot)
    assert sorted(len(r.stops) for r in planned) == [1, 3, 3]
    assert sorted(j for r in planned for j in _positions(r)) == sorted(j.id for j in made)
    # Jobs close together share a round.
    assert sorted(_positions(planned[0])) == [made[0].id, made[1].id, made[2].id]
    # The largest available courier carries 2 parcels (6 kg, 3 kg a parcel): rounds of 2.
    more = [slot_job(two_shops, slot + timedelta(hours=2), km) for km in range(1, 6)]
    small = approved_courier(tid)
    small.capacity_kg = 6
    approved_courier(tid, available=False).capacity_kg = 300  # unavailable: not counted
    assert rounds.capacity(small) == 2
    planned = rounds.plan_slot(tid, more[0].slot_start)
    assert sorted(len(r.stops) for r in planned) == [1, 2, 2]
    # Chosen by staff instead: within 1 to 30.
    for size in (0, 31):
        error = _expect(rounds.RoundError, lambda s=size: rounds.plan_slot(tid, slot, size=s))
        assert error.field == "size"
    _expect(rounds.RoundNotFound, lambda: rounds.plan_slot(2**40, slot))


def test_only_open_jobs_of_the_territory_and_slot(app, two_shops):  # noqa: F811
    slot = _slot()
    taken = slot_job(two_shops, slot, 1)
    free = slot_job(two_shops, slot, 2)
    elsewhere_shop = ShopFactory(commune=CommuneFactory())  # another territory
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(elsewhere_shop, owner)
    elsewhere = {
        "a": elsewhere_shop,
        "owner_a": owner,
        "book": VariantFactory(product__shop=elsewhere_shop, price_cents=900, stock=2),
    }
    foreign = slot_job(elsewhere, slot, 1)
    assert foreign.territory_id != free.territory_id
    jobs.accept(taken.id, approved_courier(taken.territory_id))
    (rnd,) = rounds.plan_slot(free.territory_id, slot)
    assert _positions(rnd) == [free.id]


# --- changes by hand --------------------------------------------------------------------


def test_adding_a_job_refuses_what_does_not_fit(app, two_shops):  # noqa: F811
    slot = _slot()
    first = slot_job(two_shops, slot, 1)
    (rnd,) = rounds.plan_slot(first.territory_id, slot)
    later_slot = slot_job(two_shops, slot + timedelta(hours=2), 1)
    in_round = slot_job(two_shops, slot + timedelta(hours=4), 1)
    rounds.plan_slot(first.territory_id, in_round.slot_start)
    _expect(rounds.RoundError, lambda: rounds.add_job(rnd, later_slot), "même créneau")
    _expect(rounds.RoundError, lambda: rounds.add_job(rnd, in_round), "même créneau")
    _expect(rounds.RoundError, lambda: rounds.add_job(rnd, first), "déjà dans une tournée")
    accepted = slot_job(two_shops, slot, 2)
    jobs.accept(accepted.id, approved_courier(first.territory_id))
    _expect(rounds.RoundError, lambda: rounds.add_job(rnd, accepted), "à prendre")
    set_courier_settings(first.territory_id, round_max_stops=2)
    second = slot_job(two_shops, slot, 3)
    rounds.add_job(rnd, second)
    assert _positions(rnd) == [first.id, second.id]
    third = slot_job(two_shops, slot, 0.5)
    _expect(rounds.RoundError, lambda: rounds.add_job(rnd, third), "au plus")
    assert len(rnd.stops) == 2


def test_removing_a_job_reoptimises_and_empties(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (1, 3, 2)]
    (rnd,) = rounds.plan_slot(made[0].territory_id, slot)
    staff = UserFactory(roles=[Role.STAFF])
    before = rnd.optimised_m
    assert rounds.remove_job(rnd, made[1], staff) is True  # the 3 km stop
    assert _positions(rnd) == [made[0].id, made[2].id]
    assert [s.position for s in rnd.stops] == [1, 2]
    assert rnd.optimised_m < before
    _expect(rounds.RoundNotFound, lambda: rounds.remove_job(rnd, made[1], staff))
    rounds.reoptimise(rnd)
    assert _positions(rnd) == [made[0].id, made[2].id]
    rid = rnd.id
    rounds.remove_job(rnd, made[0], staff)
    assert rounds.remove_job(rnd, made[2], staff) is False
    assert db.session.get(Round, rid) is None
    assert all(j.status is JobStatus.OPEN for j in made)


# --- giving a round to a courier ----------------------------------------------------------


def test_assign_reassign_release(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (1, 2)]
    tid = made[0].territory_id
    (rnd,) = rounds.plan_slot(tid, slot)
    staff = UserFactory(roles=[Role.STAFF])
    first, second = approved_courier(tid), approved_courier(tid)
    rounds.assign_round(rnd, first, staff, None)
    assert rnd.status is RoundStatus.ASSIGNED and rnd.courier_id == first.id
    assert rnd.assigned_at is not None
    for job in made:
        assert job.status is JobStatus.ACCEPTED and job.courier_id == first.id
        assert job.events[-1].kind is JobEventKind.ASSIGNED
        assert job.events[-1].actor_id == staff.id
    # Someone else assigned it meanwhile: the page saw nobody.
    _expect(rounds.RoundTaken, lambda: rounds.assign_round(rnd, second, staff, None))
    # A job of an assigned round moves with its round only.
    _expect(jobs.JobError, lambda: dispatch.assign(made[0], second, staff), "tournée")
    _expect(jobs.JobError, lambda: dispatch.release(made[0], staff), "tournée")
    rounds.assign_round(rnd, second, staff, first.id)
    assert {j.courier_id for j in made} == {second.id}
    kinds = [(e.kind, e.courier_id) for e in made[0].events]
    assert (JobEventKind.RELEASED, first.id) in kinds
    # Taken back: planned again, its jobs open.
    rounds.release_round(rnd, staff, second.id)
    assert rnd.status is RoundStatus.PLANNED and rnd.courier_id is None
    assert all(j.status is JobStatus.OPEN and j.courier_id is None for j in made)
    _expect(rounds.RoundError, lambda: rounds.release_round(rnd, staff, None), "attribuée")
    # The round's courier's job taken out of it: open again, the rest stays.
    rounds.assign_round(rnd, first, staff, None)
    rounds.remove_job(rnd, made[0], staff)
    assert made[0].status is JobStatus.OPEN and made[0].courier_id is None
    assert made[1].courier_id == first.id and _positions(rnd) == [made[1].id]


def test_who_may_take_a_round(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (1, 2, 3)]
    tid = made[0].territory_id
    (rnd,) = rounds.plan_slot(tid, slot)
    staff = UserFactory(roles=[Role.STAFF])
    small = approved_courier(tid)
    small.capacity_kg = 8  # two parcels of 3 kg
    error = _expect(
        rounds.RoundError, lambda: rounds.assign_round(rnd, small, staff, None), "2 colis au plus"
    )
    assert error.field == "courier_id"
    outsider = approved_courier(CommuneFactory().territory_id)
    _expect(rounds.RoundError, lambda: rounds.assign_round(rnd, outsider, staff, None))
    pending = approved_courier(tid)
    pending.status = type(pending.status)("pending")
    _expect(rounds.RoundError, lambda: rounds.assign_round(rnd, pending, staff, None))
    assert rnd.status is RoundStatus.PLANNED
    assert all(j.status is JobStatus.OPEN for j in made)
    _expect(rounds.RoundNotFound, lambda: rounds.locked_round(2**40))
    _expect(rounds.RoundNotFound, lambda: rounds.locked_round(999_999))


def test_a_job_accepted_alone_leaves_its_planned_round(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (1, 2)]
    (rnd,) = rounds.plan_slot(made[0].territory_id, slot)
    rid = rnd.id
    jobs.accept(made[0].id, approved_courier(made[0].territory_id))
    assert _positions(rnd) == [made[1].id]
    jobs.accept(made[1].id, approved_courier(made[0].territory_id))
    assert db.session.get(Round, rid) is None


def test_a_round_follows_its_jobs_to_the_end(app, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (1, 2)]
    tid = made[0].territory_id
    (rnd,) = rounds.plan_slot(tid, slot)
    staff = UserFactory(roles=[Role.STAFF])
    courier, other = approved_courier(tid), approved_courier(tid)
    rounds.assign_round(rnd, courier, staff, None)
    jobs.pick_up(made[0], courier, made[0].pickup_code)
    assert rnd.status is RoundStatus.IN_PROGRESS
    _expect(rounds.RoundError, lambda: rounds.assign_round(rnd, other, staff, courier.id))
    _expect(rounds.RoundError, lambda: rounds.remove_job(rnd, made[0], staff), "retirée")
    _expect(rounds.RoundError, lambda: rounds.reoptimise(rnd), "commencée")
    jobs.pick_up(made[1], courier, made[1].pickup_code)
    jobs.deliver(made[0], courier, made[0].delivery_code)
    assert rnd.status is RoundStatus.IN_PROGRESS and rnd.finished_at is None
    jobs.fail(made[1], courier, "Client absent")
    assert rnd.status is RoundStatus.DONE and rnd.finished_at is not None
    assert rounds.courier_rounds(courier) == [rnd]  # finished today: still listed
    assert rounds.courier_rounds(other) == []


def test_two_staff_assigning_at_once_one_wins(committed_app):
    """Each thread its own session and connection; the round's row lock and the
    courier each page saw make the second one fail instead of overwriting."""
    shop = ShopFactory(commune=CommuneFactory())
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    shops = {
        "a": shop,
        "owner_a": owner,
        "book": VariantFactory(product__shop=shop, price_cents=1990, stock=3),
    }
    slot = _slot()
    made = [slot_job(shops, slot, km) for km in (1, 2)]
    (rnd,) = rounds.plan_slot(shop.territory_id, slot)
    ids = [approved_courier(shop.territory_id).id for _ in range(4)]
    staff_id = UserFactory(roles=[Role.STAFF]).id
    round_id = rnd.id
    db.session.commit()
    barrier = threading.Barrier(len(ids))
    won: list[int] = []
    lost: list[int] = []
    crashed: list[BaseException] = []
    lock = threading.Lock()

    def race(courier_id: int) -> None:
        try:
            with committed_app.app_context():
                from marketplace.models import User

                courier = db.session.get(Courier, courier_id)
                staff = db.session.get(User, staff_id)
                db.session.commit()
                barrier.wait(timeout=30)
                try:
                    rounds.assign_round(rounds.locked_round(round_id), courier, staff, None)
                    db.session.commit()
                    with lock:
                        won.append(courier_id)
                except rounds.RoundTaken:
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
    final = db.session.get(Round, round_id)
    assert final.courier_id == won[0] and final.status is RoundStatus.ASSIGNED
    for job in made:
        job = db.session.get(DeliveryJob, job.id)
        assert job.courier_id == won[0] and job.status is JobStatus.ACCEPTED
        assigned = [e.courier_id for e in job.events if e.kind is JobEventKind.ASSIGNED]
        assert assigned == won


# --- the pages and the API --------------------------------------------------------------


def test_staff_plan_assign_and_change_rounds_on_the_board(app, client, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (2, 1)]
    tid = made[0].territory_id
    courier = approved_courier(tid)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get(BOARD)
    assert "Préparer les tournées de ce créneau" in page.text
    assert slot.isoformat() in page.text
    planned = form_post(
        client,
        BOARD,
        f"{ROUNDS}/planifier",
        {"territory_id": tid, "slot_start": slot.isoformat(), "size": ""},
    )
    assert planned.status_code == 302
    db.session.expire_all()
    rnd = db.session.scalar(select(Round))
    assert _positions(rnd) == [made[1].id, made[0].id]
    page = client.get(BOARD)
    text = main_text(page.text)
    assert f"Tournée n°{rnd.id}" in text and "Préparer les tournées" not in text
    # 1 + 1 km against 2 + 1 km in the order of creation.
    assert "2 km au lieu de 3 km" in text and "1 km de moins" in text
    assert text.index(made[1].reference) < text.index(made[0].reference)
    assign = form_post(
        client,
        BOARD,
        f"{ROUNDS}/{rnd.id}/attribuer",
        {"courier_id": courier.id, "seen_courier_id": ""},
    )
    assert assign.status_code == 302
    db.session.expire_all()
    assert db.session.get(Round, rnd.id).courier_id == courier.id
    # A second page that still saw nobody: refused, said on the board.
    again = form_post(
        client,
        BOARD,
        f"{ROUNDS}/{rnd.id}/attribuer",
        {"courier_id": courier.id, "seen_courier_id": ""},
    )
    assert again.status_code == 302
    assert "quelqu'un d'autre" in html.unescape(main_text(client.get(BOARD).text))
    # Taken out, then the round taken back.
    form_post(client, BOARD, f"{ROUNDS}/{rnd.id}/courses", {"job_id": made[0].id, "remove": "1"})
    db.session.expire_all()
    assert _positions(db.session.get(Round, rnd.id)) == [made[1].id]
    assert db.session.get(DeliveryJob, made[0].id).status is JobStatus.OPEN
    form_post(client, BOARD, f"{ROUNDS}/{rnd.id}/attribuer", {"seen_courier_id": courier.id})
    db.session.expire_all()
    assert db.session.get(Round, rnd.id).status is RoundStatus.PLANNED
    form_post(client, BOARD, f"{ROUNDS}/{rnd.id}/courses", {"job_id": made[0].id})
    db.session.expire_all()
    assert len(db.session.get(Round, rnd.id).stops) == 2


def test_bad_input_on_the_board(app, client, two_shops):  # noqa: F811
    slot = _slot()
    job = slot_job(two_shops, slot, 1)
    slot_job(two_shops, slot, 2)
    (rnd,) = rounds.plan_slot(job.territory_id, slot)
    courier = approved_courier(job.territory_id)
    courier.capacity_kg = 1
    staff = UserFactory(roles=[Role.STAFF])
    courier_user = courier.user
    db.session.commit()
    rid, tid = rnd.id, job.territory_id
    login(client, courier_user.email, DEFAULT_PASSWORD)
    assert client.get(BOARD).status_code == 403
    staff_client = app.test_client()
    login(staff_client, staff.email, DEFAULT_PASSWORD)

    def post(action: str, data: dict[str, object]) -> int:
        return form_post(staff_client, BOARD, action, data).status_code

    assert post(f"{ROUNDS}/999999/attribuer", {"courier_id": courier.id}) == 404
    assert post(f"{ROUNDS}/{2**40}/attribuer", {"courier_id": courier.id}) == 404
    assert post(f"{ROUNDS}/{rid}/attribuer", {"courier_id": 999_999}) == 404
    assert post(f"{ROUNDS}/{rid}/attribuer", {"courier_id": 2**40}) == 404
    assert post(f"{ROUNDS}/{rid}/attribuer", {"courier_id": "abc"}) == 400
    assert post(f"{ROUNDS}/{rid}/courses", {"job_id": 2**40}) == 404
    assert post(f"{ROUNDS}/{rid}/courses", {"job_id": ""}) == 404
    assert post(f"{ROUNDS}/planifier", {"territory_id": tid, "slot_start": "demain"}) == 400
    assert post(f"{ROUNDS}/planifier", {"territory_id": tid, "slot_start": "2026-11-24"}) == 400
    assert post(f"{ROUNDS}/planifier", {"territory_id": 2**40, "slot_start": slot}) == 404
    assert post(f"{ROUNDS}/planifier", {"territory_id": "²", "slot_start": slot}) == 400
    size = post(f"{ROUNDS}/planifier", {"territory_id": tid, "slot_start": slot, "size": "0"})
    assert size == 302
    assert "de 1 à 30 arrêts" in main_text(staff_client.get(BOARD).text)
    # Over capacity: refused, said, nothing changed.
    assert post(f"{ROUNDS}/{rid}/attribuer", {"courier_id": courier.id}) == 302
    assert "1 colis au plus" in main_text(staff_client.get(BOARD).text)
    db.session.expire_all()
    assert db.session.get(Round, rid).status is RoundStatus.PLANNED
    assert db.session.get(DeliveryJob, job.id).status is JobStatus.OPEN
    assert db.session.scalar(select(func.count(RoundStop.id))) == 2


def test_the_courier_sees_the_round_in_order(app, client, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (2, 1)]
    tid = made[0].territory_id
    (rnd,) = rounds.plan_slot(tid, slot)
    courier = approved_courier(tid)
    rounds.assign_round(rnd, courier, UserFactory(roles=[Role.STAFF]), None)
    email = courier.user.email
    db.session.commit()
    login(client, email, DEFAULT_PASSWORD)
    page = client.get("/livreur/")
    assert page.status_code == 200
    section = page.text.split('id="rounds-title"', 1)[1].split("</section>", 1)[0]
    assert section.index("1 km au nord") < section.index("2 km au nord")
    assert section.count("openstreetmap.org/?mlat=") == 3  # the shop, then two drops
    assert f"mlat={44.5 + KM}" in section
    assert 'aria-label="Carte : 1 km au nord"' in section


def test_the_courier_api_lists_the_rounds(app, client, two_shops):  # noqa: F811
    slot = _slot()
    made = [slot_job(two_shops, slot, km) for km in (2, 1)]
    tid = made[0].territory_id
    (rnd,) = rounds.plan_slot(tid, slot)
    courier, other = approved_courier(tid), approved_courier(tid)
    rounds.assign_round(rnd, courier, UserFactory(roles=[Role.STAFF]), None)
    _row, token = create_token(courier.user, "app")
    _row, other_token = create_token(other.user, "app")
    db.session.commit()
    assert client.get("/api/v1/courier/rounds").status_code == 401
    answer = client.get("/api/v1/courier/rounds", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    (body,) = answer.json
    assert body["id"] == rnd.id and body["status"] == "assigned"
    assert [s["job"]["id"] for s in body["stops"]] == [made[1].id, made[0].id]
    assert [s["position"] for s in body["stops"]] == [1, 2]
    assert body["optimised_m"] < body["creation_order_m"]
    assert "delivery_code" not in body["stops"][0]["job"]
    theirs = client.get(
        "/api/v1/courier/rounds", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert theirs.status_code == 200 and theirs.json == []
    paths = client.get("/api/openapi.json").json["paths"]
    assert "200" in paths["/api/v1/courier/rounds"]["get"]["responses"]


def test_a_courier_and_staff_at_once_never_both_hold_a_job(committed_app):
    """A courier accepts a job of a planned round while staff give the round to
    another courier: rounds lock before their jobs on both paths, so one waits for
    the other; no deadlock, and the job ends with one courier, in the round only
    if it is the round's courier's."""
    shop = ShopFactory(commune=CommuneFactory())
    owner = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    shops = {
        "a": shop,
        "owner_a": owner,
        "book": VariantFactory(product__shop=shop, price_cents=1990, stock=3),
    }
    slot = _slot()
    made = [slot_job(shops, slot, km) for km in (1, 2)]
    (rnd,) = rounds.plan_slot(shop.territory_id, slot)
    alone, holder = (approved_courier(shop.territory_id).id for _ in range(2))
    staff_id = UserFactory(roles=[Role.STAFF]).id
    round_id, job_id = rnd.id, made[0].id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}
    crashed: list[BaseException] = []

    def courier_side() -> None:
        try:
            with committed_app.app_context():
                courier = db.session.get(Courier, alone)
                db.session.commit()
                barrier.wait(timeout=30)
                try:
                    jobs.accept(job_id, courier)
                    db.session.commit()
                    outcome["courier"] = "won"
                except jobs.JobTaken:
                    db.session.rollback()
                    outcome["courier"] = "lost"
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported below
            crashed.append(exc)

    def staff_side() -> None:
        try:
            with committed_app.app_context():
                from marketplace.models import User

                courier = db.session.get(Courier, holder)
                staff = db.session.get(User, staff_id)
                db.session.commit()
                barrier.wait(timeout=30)
                rounds.assign_round(rounds.locked_round(round_id), courier, staff, None)
                db.session.commit()
                outcome["staff"] = "done"
                db.session.remove()
        except BaseException as exc:  # reported below
            crashed.append(exc)

    threads = [threading.Thread(target=courier_side), threading.Thread(target=staff_side)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not crashed, crashed
    assert outcome["staff"] == "done" and outcome["courier"] in ("won", "lost")
    db.session.expire_all()
    job = db.session.get(DeliveryJob, job_id)
    final = db.session.get(Round, round_id)
    in_round = job_id in [s.job_id for s in final.stops]
    assert job.status is JobStatus.ACCEPTED
    if outcome["courier"] == "won":
        assert job.courier_id == alone and not in_round
    else:
        assert job.courier_id == holder and in_round
    assert db.session.get(DeliveryJob, made[1].id).courier_id == holder
