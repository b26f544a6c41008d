"""Rounds: the open jobs of one slot grouped so that one courier carries each group,
its stops in a short order.

A round's courier collects the parcels at their shops first, then drops them; both
legs are ordered by `dispatch.optimise_round` (nearest neighbour improved by 2-opt)
and measured by `dispatch.round_km`, in that order and in the order the jobs were
made: the difference is the distance saved shown to staff.

- `plan_slot` groups the slot's open jobs that are in no round yet: nearest jobs
  together (shops and drop points), at most `round_max_stops` per round and no more
  than the largest available courier carries. Planning twice changes nothing.
- `assign_round` gives every job of a round to one courier (row locks; the staff's
  page says which courier it saw, so of two people assigning at once one wins);
  `release_round` takes them back.
- `add_job` / `remove_job` change a round by hand, re-optimised while nobody has
  picked anything up; `follow_job` moves a round along with its jobs (in progress at
  the first pick-up, done when every job is delivered or failed).

Settings (`Territory.settings["delivery"]`, integers): `round_max_stops` (8) and
`round_parcel_kg` (3, the weight a parcel counts for against a courier's capacity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from marketplace.extensions import db, fits_id
from marketplace.models import Territory, User, utcnow

from ..models import (
    Courier,
    CourierStatus,
    DeliveryJob,
    JobEventKind,
    JobStatus,
    Round,
    RoundStatus,
    RoundStop,
)
from .config import translate as _
from .couriers import territory_setting
from .dispatch import Point, optimise_round, release, round_km
from .jobs import JobError, paris_midnight, record_event

DEFAULT_MAX_STOPS = 8
DEFAULT_PARCEL_KG = 3
MAX_STOPS_LIMIT = 30  # beyond, 2-opt gets slow and no courier carries that much
DEFAULT_SLOT = timedelta(hours=2)
FINISHED = (JobStatus.DELIVERED, JobStatus.FAILED)


class RoundError(JobError):
    """A round change refused, nothing changed; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RoundNotFound(RoundError):
    """No such round (or job): pages and API answer 404."""


class RoundTaken(RoundError):
    """Someone else assigned the round meanwhile."""


def _taken() -> str:
    return _("Cette tournée vient d'être attribuée par quelqu'un d'autre : vérifiez.")


# --- settings and capacity -------------------------------------------------------------


def max_stops(territory: Territory | None) -> int:
    value = territory_setting(territory, "round_max_stops", DEFAULT_MAX_STOPS)
    return min(MAX_STOPS_LIMIT, max(1, value))


def capacity(courier: Courier, territory: Territory | None = None) -> int:
    """How many parcels the courier carries: the declared capacity over the weight a
    parcel counts for (one at least: anyone carries a single job)."""
    territory = territory or db.session.get(Territory, courier.territory_id)
    parcel_kg = max(1, territory_setting(territory, "round_parcel_kg", DEFAULT_PARCEL_KG))
    return max(1, courier.capacity_kg // parcel_kg)


def _planning_size(territory: Territory) -> int:
    """Rounds no longer than the settings allow, nor than the largest available
    approved courier carries (the settings alone when nobody is available)."""
    limit = max_stops(territory)
    carriers = db.session.scalars(
        select(Courier).where(
            Courier.territory_id == territory.id,
            Courier.status == CourierStatus.APPROVED,
            Courier.available.is_(True),
        )
    )
    largest = max((capacity(c, territory) for c in carriers), default=limit)
    return max(1, min(limit, largest))


# --- order and distances -----------------------------------------------------------------


def _flat_km(a: Point, b: Point) -> float:
    """Equirectangular distance: enough to tell near from far when grouping."""
    x = math.radians(b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    y = math.radians(b[0] - a[0])
    return 6371.0 * math.hypot(x, y)


def _shop(job: DeliveryJob) -> Point:
    return (job.shop_latitude, job.shop_longitude)


def _drop(job: DeliveryJob) -> Point:
    return (job.drop_latitude, job.drop_longitude)


def _metres(km: float) -> int:
    return round(km * 1000)


def _legs(jobs: Sequence[DeliveryJob], optimise: bool) -> tuple[list[int], list[int], float]:
    """(shop ids in pickup order, job indexes in drop order, km) for `jobs` given in
    the order they stand; optimised, or kept as they are."""
    shops: dict[int, Point] = {}
    for job in jobs:
        shops.setdefault(job.shop_id, _shop(job))
    shop_ids = list(shops)
    points = [shops[s] for s in shop_ids]
    rest = points[1:]
    pick = optimise_round(points[0], rest) if optimise else list(range(len(rest)))
    pickup = [shop_ids[0], *(shop_ids[i + 1] for i in pick)]
    last = shops[pickup[-1]]
    drops = [_drop(j) for j in jobs]
    order = optimise_round(last, drops) if optimise else list(range(len(drops)))
    km = round_km(points[0], rest, pick) + round_km(last, drops, order)
    return pickup, order, km


def _store(rnd: Round, jobs: Sequence[DeliveryJob], optimise: bool = True) -> None:
    """Write the stops of `jobs` (in their current order) to the round, optimised or
    kept, and both distances: optimised or kept, and in the order the jobs were made."""
    pickup, order, km = _legs(jobs, optimise)
    _p, _o, creation_km = _legs(sorted(jobs, key=lambda j: j.id), optimise=False)
    rank = {shop_id: n for n, shop_id in enumerate(pickup, start=1)}
    existing = {stop.job_id: stop for stop in rnd.stops}
    for position, index in enumerate(order, start=1):
        job = jobs[index]
        stop = existing.pop(job.id, None)
        if stop is None:
            stop = RoundStop(job_id=job.id, job=job)
            rnd.stops.append(stop)
        stop.position = position
        stop.pickup_position = rank[job.shop_id]
    for stop in existing.values():  # jobs no longer in the round
        rnd.stops.remove(stop)
    rnd.optimised_m = _metres(km)
    rnd.creation_order_m = _metres(creation_km)
    db.session.flush()
    rnd.stops.sort(key=lambda s: s.position)


def _stop_jobs(rnd: Round) -> list[DeliveryJob]:
    return [stop.job for stop in sorted(rnd.stops, key=lambda s: s.position)]


def _optimisable(rnd: Round) -> bool:
    return rnd.status in (RoundStatus.PLANNED, RoundStatus.ASSIGNED)


def reoptimise(rnd: Round) -> None:
    """Order the stops again (before any pick-up; afterwards the order stays)."""
    if not _optimisable(rnd):
        raise RoundError(_("Une tournée commencée garde l'ordre de ses arrêts."))
    _store(rnd, _stop_jobs(rnd))


# --- planning ---------------------------------------------------------------------------


def _groups(jobs: list[DeliveryJob], size: int) -> list[list[DeliveryJob]]:
    """Seeded by the oldest job left, each group takes the job nearest any of its
    members (shop to shop plus drop to drop) until it is full."""
    left = list(jobs)
    groups = []
    while left:
        group = [left.pop(0)]
        gap = {j.id: math.inf for j in left}
        while left and len(group) < size:
            member = group[-1]
            for job in left:
                d = _flat_km(_shop(job), _shop(member)) + _flat_km(_drop(job), _drop(member))
                gap[job.id] = min(gap[job.id], d)
            nearest = min(left, key=lambda j: (gap[j.id], j.id))
            left.remove(nearest)
            group.append(nearest)
        groups.append(group)
    return groups


def _not_in_a_round() -> ColumnElement[bool]:
    return ~exists().where(RoundStop.job_id == DeliveryJob.id)


def plan_slot(
    territory_id: int,
    slot_start: datetime,
    staff: User | None = None,
    size: int | None = None,
) -> list[Round]:
    """Group the slot's open jobs that are in no round into new rounds; returns
    them (none when every open job of the slot already is in one)."""
    territory = db.session.get(Territory, territory_id) if fits_id(territory_id) else None
    if territory is None:
        raise RoundNotFound(_("Territoire introuvable."))
    if size is not None and not 1 <= size <= MAX_STOPS_LIMIT:
        raise RoundError(
            _("Une tournée compte de 1 à %(max)d arrêts.", max=MAX_STOPS_LIMIT), "size"
        )
    limit = size or _planning_size(territory)
    # Locked, and skipped when another planner holds them: a job lands in one round.
    candidates = list(
        db.session.scalars(
            select(DeliveryJob)
            .where(
                DeliveryJob.territory_id == territory_id,
                DeliveryJob.slot_start == slot_start,
                DeliveryJob.status == JobStatus.OPEN,
                _not_in_a_round(),
            )
            .order_by(DeliveryJob.id)
            .with_for_update(skip_locked=True)
        )
    )
    made = []
    for group in _groups(candidates, limit):
        ends = [j.slot_end for j in group if j.slot_end is not None]
        rnd = Round(
            territory_id=territory_id,
            slot_start=slot_start,
            slot_end=max(ends) if ends else slot_start + DEFAULT_SLOT,
            status=RoundStatus.PLANNED,
            created_by_id=staff.id if staff is not None else None,
        )
        db.session.add(rnd)
        _store(rnd, group)
        made.append(rnd)
    return made


def slots_to_plan(jobs: Sequence[DeliveryJob]) -> list[tuple[int, datetime, int]]:
    """(territory id, slot start, open jobs in no round) for the slots of `jobs`
    with such jobs, earliest first: the board's "plan rounds" buttons."""
    open_ids = [j.id for j in jobs if j.status is JobStatus.OPEN and j.slot_start is not None]
    rounded = set(
        db.session.scalars(select(RoundStop.job_id).where(RoundStop.job_id.in_(open_ids)))
    )
    counts: dict[tuple[int, datetime], int] = {}
    for job in jobs:
        if job.id in open_ids and job.id not in rounded and job.slot_start is not None:
            key = (job.territory_id, job.slot_start)
            counts[key] = counts.get(key, 0) + 1
    return [(tid, start, n) for (tid, start), n in sorted(counts.items(), key=lambda i: i[0][1])]


# --- reading ---------------------------------------------------------------------------


def _with_stops() -> tuple[LoaderOption, ...]:
    return (
        selectinload(Round.stops).joinedload(RoundStop.job).joinedload(DeliveryJob.shop),
        joinedload(Round.courier).joinedload(Courier.user),
    )


def locked_round(round_id: int) -> Round:
    """The round, its row locked until the commit; RoundNotFound for a bad id."""
    rnd = (
        db.session.get(Round, round_id, with_for_update=True, populate_existing=True)
        if fits_id(round_id)
        else None
    )
    if rnd is None:
        raise RoundNotFound(_("Tournée introuvable."))
    return rnd


def todays_rounds(territory_id: int | None = None, now: datetime | None = None) -> list[Round]:
    """Rounds of today's slots (Paris time) and those not done yet, by slot."""
    query = (
        select(Round)
        .where(or_(Round.slot_start >= paris_midnight(now), Round.status != RoundStatus.DONE))
        .options(*_with_stops())
        .order_by(Round.slot_start, Round.id)
    )
    if territory_id is not None:
        query = query.where(Round.territory_id == territory_id)
    return list(db.session.scalars(query).unique())


def courier_rounds(courier: Courier, now: datetime | None = None) -> list[Round]:
    """The courier's rounds under way and those finished today, by slot."""
    return list(
        db.session.scalars(
            select(Round)
            .where(
                Round.courier_id == courier.id,
                or_(
                    Round.status.in_((RoundStatus.ASSIGNED, RoundStatus.IN_PROGRESS)),
                    Round.finished_at >= paris_midnight(now),
                ),
            )
            .options(*_with_stops())
            .order_by(Round.slot_start, Round.id)
        ).unique()
    )


def round_of(job: DeliveryJob) -> Round | None:
    return db.session.scalar(
        select(Round)
        .join(RoundStop, RoundStop.round_id == Round.id)
        .where(RoundStop.job_id == job.id)
    )


# --- giving a round to a courier ---------------------------------------------------------


def _locked_jobs(rnd: Round) -> list[DeliveryJob]:
    ids = sorted(stop.job_id for stop in rnd.stops)  # one lock order: no deadlock
    locked = {
        j.id: j
        for j in db.session.scalars(
            select(DeliveryJob)
            .where(DeliveryJob.id.in_(ids))
            .order_by(DeliveryJob.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    return [locked[stop.job_id] for stop in sorted(rnd.stops, key=lambda s: s.position)]


def assign_round(rnd: Round, courier: Courier, staff: User, seen_courier_id: int | None) -> None:
    """Every job of the round to `courier` (the round's row locked by `locked_round`).

    `seen_courier_id` is the courier the staff saw on the round (None: nobody); when
    someone assigned it meanwhile, RoundTaken and nothing changes.
    """
    if rnd.courier_id != seen_courier_id:
        raise RoundTaken(_taken())
    if not _optimisable(rnd):
        raise RoundError(_("Une tournée commencée ou terminée ne change plus de livreur."))
    if courier.status is not CourierStatus.APPROVED or courier.territory_id != rnd.territory_id:
        raise RoundError(_("Ce livreur ne peut pas prendre cette tournée."), "courier_id")
    if rnd.courier_id == courier.id:
        return
    carried = capacity(courier)
    if len(rnd.stops) > carried:
        raise RoundError(
            _(
                "%(name)s porte %(n)d colis au plus : la tournée en compte %(stops)d.",
                name=courier.user.display_name,
                n=carried,
                stops=len(rnd.stops),
            ),
            "courier_id",
        )
    held = _locked_jobs(rnd)
    for job in held:
        mine = job.status is JobStatus.ACCEPTED and job.courier_id == rnd.courier_id
        if job.status is not JobStatus.OPEN and not mine:
            raise RoundError(
                _(
                    "La course %(ref)s est déjà prise : retirez-la de la tournée.",
                    ref=job.reference,
                )
            )
    now = utcnow()
    for job in held:
        if job.courier_id is not None:
            record_event(job, JobEventKind.RELEASED, job.courier_id, staff, note=f"round {rnd.id}")
        job.courier_id = courier.id
        job.status = JobStatus.ACCEPTED
        job.accepted_at = now
        job.escalated_at = None
        record_event(job, JobEventKind.ASSIGNED, courier.id, staff, note=f"round {rnd.id}")
    rnd.courier_id = courier.id
    rnd.status = RoundStatus.ASSIGNED
    rnd.assigned_at = now
    db.session.flush()


def release_round(rnd: Round, staff: User, seen_courier_id: int | None) -> None:
    """Staff take an assigned round back: its jobs open again, the round planned."""
    if rnd.courier_id != seen_courier_id:
        raise RoundTaken(_taken())
    if rnd.status is not RoundStatus.ASSIGNED:
        raise RoundError(
            _("Seule une tournée attribuée et pas encore commencée peut être reprise.")
        )
    previous = rnd.courier_id
    rnd.status = RoundStatus.PLANNED
    rnd.courier_id = None
    rnd.assigned_at = None
    db.session.flush()  # no longer held: the jobs can be released one by one
    for job in _locked_jobs(rnd):
        if job.status is JobStatus.ACCEPTED and job.courier_id == previous:
            release(job, staff)
    db.session.flush()


# --- changing a round by hand -------------------------------------------------------------


def add_job(rnd: Round, job: DeliveryJob) -> None:
    """Add an open job of the same territory and slot, in no round yet, while the
    round is planned and not full."""
    if rnd.status is not RoundStatus.PLANNED:
        raise RoundError(_("Seule une tournée pas encore attribuée reçoit des courses."))
    if job.territory_id != rnd.territory_id or job.slot_start != rnd.slot_start:
        raise RoundError(_("Cette course n'est pas du même créneau que la tournée."), "job_id")
    if job.status is not JobStatus.OPEN:
        raise RoundError(_("Seule une course à prendre entre dans une tournée."), "job_id")
    if db.session.scalar(select(RoundStop.id).where(RoundStop.job_id == job.id)) is not None:
        raise RoundError(_("Cette course est déjà dans une tournée."), "job_id")
    territory = db.session.get(Territory, rnd.territory_id)
    if len(rnd.stops) >= max_stops(territory):
        raise RoundError(
            _("Une tournée compte %(max)d arrêts au plus.", max=max_stops(territory)), "job_id"
        )
    _store(rnd, [*_stop_jobs(rnd), job])


def _take_out(rnd: Round, job: DeliveryJob) -> bool:
    """Drop the job's stop; the rest re-optimised while nothing is picked up. False
    when the round, now empty, is deleted."""
    stop = next(s for s in rnd.stops if s.job_id == job.id)
    rest = [j for j in _stop_jobs(rnd) if j.id != job.id]
    rnd.stops.remove(stop)
    db.session.flush()
    if not rest:
        db.session.delete(rnd)
        db.session.flush()
        return False
    _store(rnd, rest, optimise=_optimisable(rnd))
    _refresh(rnd)
    return True


def remove_job(rnd: Round, job: DeliveryJob, staff: User) -> bool:
    """Take a job out of its round (before its pick-up); a job the round's courier
    held is open again. Returns False when the round, now empty, is deleted."""
    if all(s.job_id != job.id for s in rnd.stops):
        raise RoundNotFound(_("Cette course n'est pas dans cette tournée."))
    if job.status not in (JobStatus.OPEN, JobStatus.ACCEPTED):
        raise RoundError(_("Une course déjà retirée à la boutique reste dans sa tournée."))
    held = job.status is JobStatus.ACCEPTED and job.courier_id == rnd.courier_id
    kept = _take_out(rnd, job)
    if held:
        release(job, staff)
    return kept


# --- a round follows its jobs -----------------------------------------------------------


def _refresh(rnd: Round) -> None:
    statuses = [stop.job.status for stop in rnd.stops]
    if statuses and all(s in FINISHED for s in statuses):
        if rnd.status is not RoundStatus.DONE:
            rnd.status = RoundStatus.DONE
            rnd.finished_at = utcnow()
    elif rnd.courier_id is not None and any(
        s is JobStatus.PICKED_UP or s in FINISHED for s in statuses
    ):
        rnd.status = RoundStatus.IN_PROGRESS
    db.session.flush()


def follow_job(job: DeliveryJob) -> None:
    """Called by each step of a job: a job accepted on its own leaves its planned
    round; a pick-up starts the round, the last delivery or failure ends it."""
    rnd = round_of(job)
    if rnd is None:
        return
    if rnd.status is RoundStatus.PLANNED:
        if job.status is JobStatus.ACCEPTED:
            _take_out(rnd, job)
        return
    _refresh(rnd)
