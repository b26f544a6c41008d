"""Thin Celery tasks of the shop domain, and their schedule.

Each task opens its own transaction (the task owns it: one commit), calls one
operation and returns what it did. Add a task as a function below and its schedule
entry in `BEAT_SCHEDULE`.
"""

from __future__ import annotations

from celery.schedules import crontab
from flask import Flask

from marketplace.extensions import celery_app, task_transaction
from marketplace.models import utcnow

from .operations.orders import cancel_uncollected
from .operations.reservations import release_expired

# --- orders: click-and-collect not collected in time ----------------------------------


@celery_app.task(name="shop.cancel_uncollected_orders")
def cancel_uncollected_orders() -> int:
    """Cancel and refund the click-and-collect orders left uncollected (idempotent)."""
    with task_transaction():
        cancelled = cancel_uncollected(utcnow())
    return len(cancelled)


# --- checkout: stock reserved for payments that never completed -----------------------


@celery_app.task(name="shop.release_expired_reservations")
def release_expired_reservations() -> int:
    """Give back the stock of unpaid orders whose reservation expired (idempotent)."""
    with task_transaction():
        released = release_expired(utcnow())
    return released


# --- schedule -----------------------------------------------------------------------

BEAT_SCHEDULE = {
    "shop-cancel-uncollected-orders": {
        "task": "shop.cancel_uncollected_orders",
        "schedule": crontab(hour=6, minute=15),  # daily, before the shops open
    },
    "shop-release-expired-reservations": {
        "task": "shop.release_expired_reservations",
        "schedule": 60.0,  # every minute: a reservation lasts 15
    },
}


def init_app(app: Flask) -> None:
    """Add the shop's periodic tasks to the beat schedule."""
    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **BEAT_SCHEDULE}
