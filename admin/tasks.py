"""Thin Celery tasks of the collectivité's domain: settlement runs, and their schedule.

`admin.run_settlements` creates the period's settlements (once per shop, whatever
the number of runs firing) and enqueues `admin.settle` per settlement, after commit,
with the id only. `admin.settle` is `acks_late` (a worker killed mid-task leaves the
message to be delivered again) and idempotent: each step locks the settlement row and
does nothing when done. Payout errors are retried with exponential backoff, every
countdown far below the Redis visibility timeout (6 h, marketplace/config.py).

A Redis restarted without its data loses the queued and unacknowledged messages:
`admin.resume_settlements` (beat, every 30 min) enqueues again the settlements of any
period left unfinished and unchanged for longer than `SETTLEMENT_RESUME_MINUTES`
(30 by default: far longer than a transfer takes, so a settlement a worker is still
paying is not sent again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import Task
from celery.schedules import crontab
from flask import Flask, current_app

from marketplace.extensions import after_commit, celery_app, db, task_transaction
from marketplace.models import utcnow

from .settlement import operations
from .settlement.payouts import PayoutError

SETTLE_MAX_RETRIES = 6
SETTLE_BACKOFF_MAX = 900  # seconds: well under the 6 h visibility timeout
RESUME_AFTER_MINUTES = 30  # a settlement unfinished and unchanged for this long lost its task


@celery_app.task(name="admin.run_settlements", acks_late=True)
def run_settlements(period_start: str | None = None) -> int:
    """Settle every shop for the week starting at `period_start` (ISO, UTC), by
    default the previous Monday-to-Monday week (Europe/Paris)."""
    if period_start:
        start, end = operations.week_of(datetime.fromisoformat(period_start))
    else:
        start, end = operations.previous_week()
    with task_transaction():
        ids = operations.start_run(start, end)
        after_commit(lambda: _enqueue(ids))
    return len(ids)


@celery_app.task(
    name="admin.settle",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=SETTLE_MAX_RETRIES,
)
def settle(self: Task, settlement_id: int) -> str | None:
    """Compute and pay one settlement (idempotent; resumes where it stopped)."""
    try:
        done = operations.settle(settlement_id)
    except PayoutError as exc:
        db.session.rollback()
        countdown = min(SETTLE_BACKOFF_MAX, 30 * 2**self.request.retries)
        if self.app.conf.task_always_eager or current_app.config.get("SETTLEMENT_TEST_RETRY_NOW"):
            countdown = 0
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception:
        db.session.rollback()
        raise
    return done.status.value if done else None


@celery_app.task(name="admin.resume_settlements", acks_late=True)
def resume_settlements(after_seconds: int | None = None) -> int:
    """Enqueue again the settlements whose task was lost: unfinished and unchanged for
    `after_seconds` (by default SETTLEMENT_RESUME_MINUTES)."""
    if after_seconds is None:
        minutes = current_app.config.get("SETTLEMENT_RESUME_MINUTES", RESUME_AFTER_MINUTES)
        after_seconds = 60 * minutes
    try:
        ids = operations.unfinished(utcnow() - timedelta(seconds=after_seconds))
        db.session.rollback()
    except Exception:
        db.session.rollback()
        raise
    _enqueue(ids)
    return len(ids)


@celery_app.task(name="admin.reconcile", bind=True, acks_late=True, max_retries=5)
def reconcile(self: Task, day: str | None = None) -> int:
    """Compare the ledger with Stripe for one Europe/Paris day (ISO date), by default
    yesterday; idempotent (the day's report is replaced). Stripe errors are retried."""
    from datetime import date

    from marketplace.payments import PaymentError

    from .settlement import reconciliation

    if day:
        start, end = reconciliation.days(date.fromisoformat(day), date.fromisoformat(day))
    else:
        start, end = reconciliation.previous_day()
    try:
        with task_transaction():
            report = reconciliation.reconcile(start, end)
    except PaymentError as exc:
        countdown = min(3600, 300 * 2**self.request.retries)
        if self.app.conf.task_always_eager:
            countdown = 0
        raise self.retry(exc=exc, countdown=countdown) from exc
    return report.difference_count


def _enqueue(ids: list[int]) -> None:
    for settlement_id in ids:
        settle.delay(settlement_id)


BEAT_SCHEDULE = {
    "admin-run-settlements": {
        "task": "admin.run_settlements",
        # Weekly, Monday 03:00 Europe/Paris (the beat's timezone): last week's sales.
        "schedule": crontab(day_of_week="mon", hour=3, minute=0),
    },
    "admin-resume-settlements": {
        "task": "admin.resume_settlements",
        # Every 30 min: settlements whose message a restarted Redis lost.
        "schedule": crontab(minute="*/30"),
    },
    "admin-reconcile": {
        "task": "admin.reconcile",
        # Daily at 04:30 Europe/Paris: yesterday's payments, refunds and transfers.
        "schedule": crontab(hour=4, minute=30),
    },
}


def init_app(app: Flask) -> None:
    """Add the settlement schedule to beat; test-only switches from the environment."""
    import os

    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **BEAT_SCHEDULE}
    if app.config.get("ENV_NAME") == "test" or app.testing:
        # A real worker in the fault tests is configured by its environment only.
        pause = os.environ.get("COMPTOIR_TEST_SETTLEMENT_PAUSE")
        if pause:
            app.config.setdefault("SETTLEMENT_TEST_PAUSE_SECONDS", float(pause))
        recorder = os.environ.get("COMPTOIR_TEST_PAYOUTS_FILE")
        if recorder:
            app.config.setdefault("SETTLEMENT_TEST_PAYOUTS_FILE", recorder)
            app.config.setdefault(
                "SETTLEMENT_TEST_PAYOUTS_FAIL_FIRST",
                int(os.environ.get("COMPTOIR_TEST_PAYOUTS_FAIL_FIRST", "0")),
            )
        visibility = os.environ.get("COMPTOIR_TEST_VISIBILITY_TIMEOUT")
        if visibility:  # so a message of a SIGKILLed worker comes back within a test
            options = dict(celery_app.conf.broker_transport_options or {})
            celery_app.conf.broker_transport_options = {
                **options,
                "visibility_timeout": int(visibility),
                "unacked_restore_interval": 1,  # sweep every second
                "unacked_restore_throttle": 1,
            }
        if os.environ.get("COMPTOIR_TEST_SETTLEMENT_RETRY_NOW"):
            app.config.setdefault("SETTLEMENT_TEST_RETRY_NOW", True)
