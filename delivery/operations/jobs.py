"""Delivery jobs: made when a shop marks an express sub-order ready, then accepted
by one courier, picked up at the shop with the sub-order's pickup code and delivered
with the resident's delivery code as proof, or reported failed with a reason.

The sub-order belongs to the shop domain, above this one: it is read from the
`suborder_ready` sender's attributes, never imported. Each step is announced by a
signal (`delivery_picked_up`, `marketplace.events.delivery_completed`,
`delivery_failed`, and `delivery_code_issued` when a job is made) that the shop
side (`shop/operations/delivery_sync.py`) turns into sub-order transitions.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blinker import Namespace
from geopy.distance import geodesic
from sqlalchemy import or_, select, update

from marketplace import events
from marketplace.extensions import after_commit, db, fits_id
from marketplace.i18n import PARIS
from marketplace.models import FulfilmentMethod, Territory, User, utcnow
from merchants.models import Shop

from ..models import (
    Courier,
    CourierStatus,
    DeliveryJob,
    JobEvent,
    JobEventKind,
    JobStatus,
    Round,
    RoundStop,
)
from .config import translate as _
from .couriers import job_cents

log = logging.getLogger(__name__)

_signals = Namespace()
# sender: the DeliveryJob; kwargs: sub_order_id, code. The resident's proof code.
delivery_code_issued = _signals.signal("delivery-code-issued")
# sender: the DeliveryJob, once the shop handed the parcel to the courier.
delivery_picked_up = _signals.signal("delivery-picked-up")
# sender: the DeliveryJob; kwargs: reason. The parcel goes back to the shop.
delivery_failed = _signals.signal("delivery-failed")
# (delivered: `marketplace.events.delivery_completed`, sender: the DeliveryJob)

ACTIVE = (JobStatus.ACCEPTED, JobStatus.PICKED_UP)
MAX_REASON = 500


class JobError(ValueError):
    """A courier's step refused; nothing changed. `message` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobTaken(JobError):
    """Another courier accepted the job first."""


class WrongCode(JobError):
    """The code given is not the job's."""


class JobNotFound(JobError):
    """No such job, or not this courier's: pages and API answer 404."""


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def record_event(
    job: DeliveryJob,
    kind: JobEventKind,
    courier_id: int | None = None,
    actor: User | None = None,
    note: str = "",
    distance_km: float | None = None,
) -> JobEvent:
    """Add a step to the job's history (who, when, why), for the dispatch board."""
    row = JobEvent(
        job_id=job.id,
        kind=kind,
        courier_id=courier_id,
        actor_id=actor.id if actor is not None else None,
        note=note[:MAX_REASON],
        distance_km=distance_km,
    )
    db.session.add(row)
    return row


# --- creation: the shop marked an express sub-order ready ----------------------------


def job_for_sub_order(sub_order_id: int) -> DeliveryJob | None:
    """The sub-order's current job (the latest one: a failed job may be followed)."""
    return db.session.scalar(
        select(DeliveryJob)
        .where(DeliveryJob.sub_order_id == sub_order_id)
        .order_by(DeliveryJob.id.desc())
        .limit(1)
    )


def create_job(sub: Any) -> DeliveryJob | None:
    """A job for an express sub-order (any object with the sub-order's attributes).

    Idempotent: a sub-order with an unfinished job gets no second one. Other
    methods get no job (None).
    """
    if getattr(sub, "fulfilment_method", None) != FulfilmentMethod.EXPRESS:
        return None
    existing = job_for_sub_order(sub.id)
    if existing is not None and existing.status not in (JobStatus.DELIVERED, JobStatus.FAILED):
        return existing
    shop = db.session.get(Shop, sub.shop_id)
    assert shop is not None
    territory = db.session.get(Territory, shop.territory_id)
    drop_lat = getattr(sub, "delivery_latitude", None)
    drop_lon = getattr(sub, "delivery_longitude", None)
    if drop_lat is None or drop_lon is None:
        log.warning("express sub-order %s has no delivery point; the shop's is used", sub.id)
        drop_lat, drop_lon = shop.latitude, shop.longitude
    job = DeliveryJob(
        sub_order_id=sub.id,
        reference=sub.reference,
        territory_id=shop.territory_id,
        shop_id=shop.id,
        shop_latitude=shop.latitude,
        shop_longitude=shop.longitude,
        drop_address=getattr(sub, "delivery_address", None) or "",
        drop_latitude=drop_lat,
        drop_longitude=drop_lon,
        slot_start=getattr(sub, "delivery_slot_start", None),
        slot_end=getattr(sub, "delivery_slot_end", None),
        status=JobStatus.OPEN,
        pickup_code=sub.pickup_code,
        delivery_code=new_code(),
        fee_cents=job_cents(territory),
    )
    db.session.add(job)
    db.session.flush()
    record_event(job, JobEventKind.CREATED)
    db.session.flush()
    delivery_code_issued.send(job, sub_order_id=sub.id, code=job.delivery_code)
    job_id = job.id
    after_commit(lambda: _enqueue_dispatch(job_id))
    return job


def _enqueue_dispatch(job_id: int) -> None:
    from ..tasks import dispatch_job

    try:
        dispatch_job.delay(job_id)
    except Exception:
        # The periodic escalation task offers jobs that were never offered.
        log.exception("dispatch of job %s not enqueued", job_id)


def on_suborder_ready(sub: Any, **_kwargs: Any) -> None:
    create_job(sub)


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class NearJob:
    job: DeliveryJob
    distance_km: float | None  # courier → shop
    trip_km: float  # shop → drop point
    offered: bool  # offered to this courier by dispatch


def trip_km(job: DeliveryJob) -> float:
    return float(
        geodesic(
            (job.shop_latitude, job.shop_longitude), (job.drop_latitude, job.drop_longitude)
        ).km
    )


def open_jobs_near(
    courier: Courier, latitude: float | None = None, longitude: float | None = None
) -> list[NearJob]:
    """Open jobs of the courier's territory, nearest shop first (from the given
    position, else the courier's last one; without any, oldest first)."""
    lat = latitude if latitude is not None else courier.latitude
    lon = longitude if longitude is not None else courier.longitude
    jobs = list(
        db.session.scalars(
            select(DeliveryJob)
            .where(
                DeliveryJob.territory_id == courier.territory_id,
                DeliveryJob.status == JobStatus.OPEN,
            )
            .order_by(DeliveryJob.created_at, DeliveryJob.id)
        )
    )
    offered = set(
        db.session.scalars(
            select(JobEvent.job_id).where(
                JobEvent.courier_id == courier.id,
                JobEvent.kind == JobEventKind.OFFERED,
                JobEvent.job_id.in_([j.id for j in jobs]),
            )
        )
    )
    rows = []
    for job in jobs:
        distance = (
            float(geodesic((lat, lon), (job.shop_latitude, job.shop_longitude)).km)
            if lat is not None and lon is not None
            else None
        )
        rows.append(NearJob(job, distance, trip_km(job), job.id in offered))
    if lat is not None and lon is not None:
        rows.sort(key=lambda r: (r.distance_km or 0.0, r.job.id))
    return rows


def paris_midnight(now: datetime | None = None) -> datetime:
    local = (now or utcnow()).astimezone(PARIS)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def todays_jobs(courier: Courier, now: datetime | None = None) -> list[DeliveryJob]:
    """The courier's jobs in hand, and those finished today (Paris time)."""
    since = paris_midnight(now)
    return list(
        db.session.scalars(
            select(DeliveryJob)
            .where(
                DeliveryJob.courier_id == courier.id,
                or_(DeliveryJob.status.in_(ACTIVE), DeliveryJob.finished_at >= since),
            )
            .order_by(DeliveryJob.accepted_at, DeliveryJob.id)
        )
    )


def history(courier: Courier, limit: int = 100) -> list[DeliveryJob]:
    return list(
        db.session.scalars(
            select(DeliveryJob)
            .where(
                DeliveryJob.courier_id == courier.id,
                DeliveryJob.status.in_((JobStatus.DELIVERED, JobStatus.FAILED)),
            )
            .order_by(DeliveryJob.finished_at.desc(), DeliveryJob.id.desc())
            .limit(limit)
        )
    )


def _lock_round_of(job_id: int) -> None:
    """Lock the job's round, if any, before the job: rounds lock before their jobs
    everywhere (`rounds.assign_round` too), so no two steps wait on each other."""
    db.session.execute(
        select(Round.id)
        .join(RoundStop, RoundStop.round_id == Round.id)
        .where(RoundStop.job_id == job_id)
        .with_for_update(of=Round)
    )


def locked_job(job_id: int) -> DeliveryJob | None:
    """The job, its row locked until the commit (its round's first); None for an
    unknown or impossible id."""
    if not fits_id(job_id):
        return None
    _lock_round_of(job_id)
    return db.session.get(DeliveryJob, job_id, with_for_update=True, populate_existing=True)


def held_job(job_id: int, courier: Courier) -> DeliveryJob:
    """The job `courier` holds, locked for its next step; JobNotFound (404) for an
    unknown id and for another courier's job alike."""
    job = locked_job(job_id)
    if job is None or job.courier_id != courier.id:
        raise JobNotFound(_("Course introuvable."))
    return job


def follow_round(job: DeliveryJob) -> None:
    """The job's round, if any, follows the step (imported here: rounds uses jobs)."""
    from .rounds import follow_job

    follow_job(job)


# --- the courier's steps -------------------------------------------------------------


def accept(job_id: int, courier: Courier) -> DeliveryJob:
    """One courier per job: a conditional UPDATE … WHERE status = 'open'; whoever
    comes second finds no row to change and gets JobTaken."""
    if courier.status is not CourierStatus.APPROVED:
        raise JobError(_("Votre compte livreur n'est pas encore validé."))
    if not fits_id(job_id) or db.session.get(DeliveryJob, job_id) is None:
        raise JobNotFound(_("Course introuvable."))
    _lock_round_of(job_id)
    now = utcnow()
    result = db.session.execute(
        update(DeliveryJob)
        .where(
            DeliveryJob.id == job_id,
            DeliveryJob.status == JobStatus.OPEN,
            DeliveryJob.territory_id == courier.territory_id,
        )
        .values(status=JobStatus.ACCEPTED, courier_id=courier.id, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise JobTaken(_("Cette course a déjà été acceptée par un autre livreur."))
    job = db.session.get(DeliveryJob, job_id, populate_existing=True)
    assert job is not None
    record_event(job, JobEventKind.ACCEPTED, courier.id)
    db.session.flush()
    follow_round(job)
    return job


def _check(given: str, expected: str) -> bool:
    cleaned = "".join(ch for ch in given if not ch.isspace())
    return hmac.compare_digest(cleaned.encode(), expected.encode())


def _require(job: DeliveryJob, courier: Courier, *statuses: JobStatus) -> None:
    if job.courier_id != courier.id:
        raise JobError(_("Cette course n'est pas la vôtre."))
    if job.status not in statuses:
        raise JobError(_("Cette étape n'est pas possible dans l'état actuel de la course."))


def pick_up(job: DeliveryJob, courier: Courier, code: str) -> None:
    """At the shop: the courier shows the sub-order's pickup code."""
    _require(job, courier, JobStatus.ACCEPTED)
    if not _check(code, job.pickup_code):
        log.info("wrong pickup code for job %s", job.id)
        raise WrongCode(_("Ce n'est pas le code de retrait de cette commande."))
    job.status = JobStatus.PICKED_UP
    job.picked_up_at = utcnow()
    record_event(job, JobEventKind.PICKED_UP, courier.id)
    db.session.flush()
    follow_round(job)
    delivery_picked_up.send(job)


def deliver(job: DeliveryJob, courier: Courier, code: str) -> None:
    """At the door: the resident's delivery code is the proof of delivery."""
    _require(job, courier, JobStatus.PICKED_UP)
    if not _check(code, job.delivery_code):
        log.info("wrong delivery code for job %s", job.id)
        raise WrongCode(_("Ce n'est pas le code de livraison du client."))
    job.status = JobStatus.DELIVERED
    job.finished_at = utcnow()
    record_event(job, JobEventKind.DELIVERED, courier.id)
    db.session.flush()
    follow_round(job)
    events.delivery_completed.send(job)


def fail(job: DeliveryJob, courier: Courier, reason: str) -> None:
    """Not delivered (nobody home, wrong address…): the parcel goes back to the shop."""
    _require(job, courier, JobStatus.PICKED_UP)
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise JobError(_("Dites en quelques mots pourquoi la livraison a échoué."))
    job.status = JobStatus.FAILED
    job.finished_at = utcnow()
    job.failure_reason = reason[:MAX_REASON]
    record_event(job, JobEventKind.FAILED, courier.id, note=reason)
    db.session.flush()
    follow_round(job)
    delivery_failed.send(job, reason=job.failure_reason)
