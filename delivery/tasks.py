"""Thin Celery tasks of the delivery domain: dispatch of new jobs, escalation,
rounds planned per slot."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from marketplace.extensions import celery_app, db, task_transaction

from .models import DeliveryJob
from .operations.dispatch import escalate, offer
from .operations.rounds import RoundError, plan_slot

log = logging.getLogger(__name__)

BEAT_SCHEDULE = {
    "delivery-escalate-dispatch": {
        "task": "delivery.escalate_dispatch",
        "schedule": 60.0,  # every minute; the wait itself is a territory setting
    },
}


@celery_app.task(name="delivery.dispatch_job")
def dispatch_job(job_id: int) -> int:
    """Offer a new job to the nearest available couriers; returns how many."""
    with task_transaction():
        job = db.session.get(DeliveryJob, job_id, with_for_update=True)
        count = len(offer(job)) if job is not None else 0
    return count


@celery_app.task(name="delivery.escalate_dispatch")
def escalate_dispatch() -> tuple[int, int]:
    """Re-offer wider the jobs nobody accepted in time, flag the rest for staff."""
    with task_transaction():
        result = escalate()
    return result


@celery_app.task(name="delivery.plan_rounds")
def plan_rounds(territory_id: int, slot_start: str) -> list[int]:
    """Group the open jobs of one slot (ISO 8601 start, with its offset) into rounds;
    idempotent: jobs already in a round stay put. Returns the new rounds' ids."""
    start = datetime.fromisoformat(slot_start)
    if start.tzinfo is None:
        raise ValueError("slot_start needs its UTC offset")
    try:
        with task_transaction():
            made = [r.id for r in plan_slot(territory_id, start)]
    except RoundError as exc:
        log.warning("rounds of territory %s not planned: %s", territory_id, exc.message)
        return []
    return made


def init_app(app: Flask) -> None:
    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **BEAT_SCHEDULE}
