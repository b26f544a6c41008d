"""Dispatch: a new job is offered to the available couriers nearest its shop; when
nobody accepts in time the offer goes wider, then the job is flagged for the
collectivité's staff, who can also assign and reassign by hand.

Rounds: `optimise_round` orders the stops of jobs carried together (nearest
neighbour improved by 2-opt); `rounds` stores them and gives them to couriers.

Settings (`Territory.settings["delivery"]`, integers): `dispatch_batch` (couriers
per offer, 3), `dispatch_radius_km` (5, doubled each round), `dispatch_wait_minutes`
(before the next round, 10), `dispatch_rounds` (offers before staff is told, 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from geopy.distance import geodesic
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Territory, User, utcnow

from ..models import (
    Courier,
    CourierStatus,
    DeliveryJob,
    JobEvent,
    JobEventKind,
    JobStatus,
    Round,
    RoundStatus,
    RoundStop,
)
from .config import translate as _
from .couriers import territory_setting
from .jobs import JobError, follow_round, paris_midnight, record_event


@dataclass(frozen=True)
class DispatchSettings:
    batch: int
    radius_km: int
    wait_minutes: int
    rounds: int

    @classmethod
    def of(cls, territory: Territory | None) -> DispatchSettings:
        return cls(
            batch=max(1, territory_setting(territory, "dispatch_batch", 3)),
            radius_km=max(1, territory_setting(territory, "dispatch_radius_km", 5)),
            wait_minutes=territory_setting(territory, "dispatch_wait_minutes", 10),
            rounds=max(1, territory_setting(territory, "dispatch_rounds", 2)),
        )


def nearest_couriers(job: DeliveryJob) -> list[tuple[Courier, float]]:
    """Available approved couriers of the job's territory with a known position,
    nearest its shop first."""
    couriers = db.session.scalars(
        select(Courier).where(
            Courier.territory_id == job.territory_id,
            Courier.status == CourierStatus.APPROVED,
            Courier.available.is_(True),
            Courier.latitude.is_not(None),
            Courier.longitude.is_not(None),
        )
    )
    ranked = [
        (c, float(geodesic((c.latitude, c.longitude), (job.shop_latitude, job.shop_longitude)).km))
        for c in couriers
    ]
    ranked.sort(key=lambda pair: (pair[1], pair[0].id))
    return ranked


def offered_to(job: DeliveryJob) -> set[int]:
    return {
        cid
        for cid in db.session.scalars(
            select(JobEvent.courier_id).where(
                JobEvent.job_id == job.id, JobEvent.kind == JobEventKind.OFFERED
            )
        )
        if cid is not None
    }


def offer(job: DeliveryJob, now: datetime | None = None) -> list[Courier]:
    """One round of offers: the nearest couriers not offered yet, within a radius
    that doubles each round. Records each offer; returns who got it."""
    if job.status is not JobStatus.OPEN:
        return []
    now = now or utcnow()
    settings = DispatchSettings.of(db.session.get(Territory, job.territory_id))
    round_no = job.offer_round + 1
    radius = settings.radius_km * 2 ** (round_no - 1)
    batch = settings.batch * round_no
    already = offered_to(job)
    chosen = [(c, km) for c, km in nearest_couriers(job) if c.id not in already and km <= radius][
        :batch
    ]
    for courier, km in chosen:
        record_event(
            job,
            JobEventKind.OFFERED,
            courier.id,
            distance_km=round(km, 3),
            note=f"round {round_no}",
        )
    job.offer_round = round_no
    job.offered_at = now
    db.session.flush()
    return [c for c, _km in chosen]


def escalate(now: datetime | None = None) -> tuple[int, int]:
    """Jobs still open after their wait: offered wider, or flagged for staff once
    the rounds are spent (or never offered yet: offered now). Returns (re-offered,
    flagged)."""
    now = now or utcnow()
    reoffered = flagged = 0
    jobs = db.session.scalars(
        select(DeliveryJob)
        .where(DeliveryJob.status == JobStatus.OPEN, DeliveryJob.escalated_at.is_(None))
        .order_by(DeliveryJob.id)
        .with_for_update(skip_locked=True)
    )
    for job in list(jobs):
        settings = DispatchSettings.of(db.session.get(Territory, job.territory_id))
        if job.offered_at is not None and now - job.offered_at < timedelta(
            minutes=settings.wait_minutes
        ):
            continue
        if job.offer_round < settings.rounds:
            offer(job, now)
            reoffered += 1
        else:
            job.escalated_at = now
            record_event(job, JobEventKind.ESCALATED, note="no courier accepted")
            flagged += 1
    db.session.flush()
    return reoffered, flagged


# --- the collectivité's dispatch page ------------------------------------------------


def is_flagged(job: DeliveryJob) -> bool:
    """Staff must step in: the offers are spent and the job is still open."""
    return job.escalated_at is not None and job.status is JobStatus.OPEN


def todays_board(territory_id: int | None = None, now: datetime | None = None) -> list[DeliveryJob]:
    """Every job made today (Paris time), or still unfinished, flagged ones first."""
    since = paris_midnight(now)
    query = select(DeliveryJob).where(
        (DeliveryJob.created_at >= since)
        | DeliveryJob.status.in_((JobStatus.OPEN, JobStatus.ACCEPTED, JobStatus.PICKED_UP))
    )
    if territory_id is not None:
        query = query.where(DeliveryJob.territory_id == territory_id)
    jobs = list(db.session.scalars(query.order_by(DeliveryJob.id)))
    jobs.sort(key=lambda j: (not is_flagged(j), j.id))
    return jobs


def approved_couriers(territory_id: int) -> list[Courier]:
    return list(
        db.session.scalars(
            select(Courier)
            .where(Courier.territory_id == territory_id, Courier.status == CourierStatus.APPROVED)
            .order_by(Courier.available.desc(), Courier.id)
        )
    )


def in_held_round(job: DeliveryJob) -> bool:
    """In a round a courier holds: the job changes hands with its round only."""
    return (
        db.session.scalar(
            select(Round.id)
            .join(RoundStop, RoundStop.round_id == Round.id)
            .where(RoundStop.job_id == job.id, Round.status != RoundStatus.PLANNED)
        )
        is not None
    )


def _not_in_held_round(job: DeliveryJob) -> None:
    if in_held_round(job):
        raise JobError(
            _(
                "Cette course fait partie d'une tournée attribuée : "
                "retirez-la d'abord de la tournée."
            )
        )


def assign(job: DeliveryJob, courier: Courier, staff: User) -> None:
    """Staff give an open job to a courier, or take an accepted one from its courier
    and give it to another (before pick-up: the parcel is still at the shop). A job
    of a planned round leaves it; one of an assigned round moves with its round."""
    _not_in_held_round(job)
    if job.status not in (JobStatus.OPEN, JobStatus.ACCEPTED):
        raise JobError(_("Seule une course pas encore retirée peut être attribuée."))
    if courier.status is not CourierStatus.APPROVED or courier.territory_id != job.territory_id:
        raise JobError(_("Ce livreur ne peut pas prendre cette course."))
    if job.courier_id == courier.id:
        return
    if job.courier_id is not None:
        record_event(job, JobEventKind.RELEASED, job.courier_id, staff)
    job.courier_id = courier.id
    job.status = JobStatus.ACCEPTED
    job.accepted_at = utcnow()
    job.escalated_at = None
    record_event(job, JobEventKind.ASSIGNED, courier.id, staff)
    db.session.flush()
    follow_round(job)


def release(job: DeliveryJob, staff: User) -> None:
    """Staff take an accepted job back: open again, offered anew."""
    if job.status is not JobStatus.ACCEPTED:
        raise JobError(_("Seule une course acceptée et pas encore retirée peut être reprise."))
    _not_in_held_round(job)
    record_event(job, JobEventKind.RELEASED, job.courier_id, staff)
    job.courier_id = None
    job.status = JobStatus.OPEN
    job.accepted_at = None
    job.offer_round = 0
    job.offered_at = None
    job.escalated_at = None
    db.session.flush()


# --- rounds: the stop order of several jobs carried together ----------------------------

Point = tuple[float, float]


def _matrix(points: list[Point]) -> list[list[float]]:
    return [[float(geodesic(a, b).km) if a != b else 0.0 for b in points] for a in points]


def round_km(start: Point, stops: list[Point], order: list[int]) -> float:
    """Length of the path from `start` through `stops` in `order` (no return)."""
    points = [start, *stops]
    path = [0, *(i + 1 for i in order)]
    return sum(float(geodesic(points[a], points[b]).km) for a, b in pairwise(path))


def optimise_round(start: Point, stops: list[Point]) -> list[int]:
    """A short stop order: nearest neighbour from `start`, improved by 2-opt
    (reversing a stretch whenever that shortens the path) until no move helps.
    Returns indexes into `stops`."""
    n = len(stops)
    if n < 2:
        return list(range(n))
    d = _matrix([start, *stops])  # node 0 is the start
    left = set(range(1, n + 1))
    path = [0]
    while left:
        nxt = min(left, key=lambda j: (d[path[-1]][j], j))
        path.append(nxt)
        left.remove(nxt)
    improved = True
    while improved:
        improved = False
        for i in range(1, n):
            for k in range(i + 1, n + 1):
                a, b = path[i - 1], path[i]
                c = path[k]
                after = path[k + 1] if k + 1 <= n else None
                before = d[a][b] + (d[c][after] if after is not None else 0.0)
                swapped = d[a][c] + (d[b][after] if after is not None else 0.0)
                if swapped < before - 1e-9:
                    path[i : k + 1] = reversed(path[i : k + 1])
                    improved = True
    return [p - 1 for p in path[1:]]
