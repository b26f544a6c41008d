"""Thin Celery tasks of the Cityzens: rewards credited once their withdrawal period
has passed (hourly; idempotent, so a run twice or two runs at once credit once)."""

from __future__ import annotations

from flask import Flask

from marketplace.extensions import celery_app, task_transaction

from .operations import credit_due_rewards

BEAT_SCHEDULE = {
    "ambassadors-credit-rewards": {
        "task": "ambassadors.credit_rewards",
        "schedule": 3600.0,  # hourly: a reward waits at most an hour past its 14 days
    },
}


@celery_app.task(name="ambassadors.credit_rewards", acks_late=True)
def credit_rewards() -> int:
    """Credit the rewards now due; returns how many."""
    with task_transaction():
        count = credit_due_rewards()
    return count


def init_app(app: Flask) -> None:
    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **BEAT_SCHEDULE}
