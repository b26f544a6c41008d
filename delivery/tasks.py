"""Thin Celery tasks of the delivery domain: dispatch of new jobs, escalation."""

from __future__ import annotations

from flask import Flask

from marketplace.extensions import celery_app, db

from .models import DeliveryJob
from .operations.dispatch import escalate, offer

BEAT_SCHEDULE = {
    "delivery-escalate-dispatch": {
        "task": "delivery.escalate_dispatch",
        "schedule": 60.0,  # every minute; the wait itself is a territory setting
    },
}


@celery_app.task(name="delivery.dispatch_job")
def dispatch_job(job_id: int) -> int:
    """Offer a new job to the nearest available couriers; returns how many."""
    try:
        job = db.session.get(DeliveryJob, job_id, with_for_update=True)
        count = len(offer(job)) if job is not None else 0
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return count


@celery_app.task(name="delivery.escalate_dispatch")
def escalate_dispatch() -> tuple[int, int]:
    """Re-offer wider the jobs nobody accepted in time, flag the rest for staff."""
    try:
        result = escalate()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result


def init_app(app: Flask) -> None:
    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **BEAT_SCHEDULE}
