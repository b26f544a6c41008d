"""Thin Celery tasks of the merchant domain: long catalogue imports.

Each task receives an import job id, owns its transaction (one commit) and calls one
operation. Both are idempotent: a job already checked or applied is left as it is, so
a task delivered twice (acks_late: redelivered when a worker dies) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import force_locale
from sqlalchemy.exc import OperationalError

from marketplace.extensions import celery_app, db, task_transaction
from marketplace.models import User

from .models import ImportJob, ImportStatus
from .operations import imports as import_ops

IMPORT_MAX_RETRIES = 3


def _locale(job: ImportJob) -> str:
    """The messages of the report in the language of the person who sent the file."""
    user = db.session.get(User, job.user_id) if job.user_id else None
    return (user.locale if user is not None else None) or "fr"


def _run(task: Any, job_id: int, expected: ImportStatus, step: Callable[..., object]) -> str | None:
    """Run one step of a job in the task's one transaction; a database hiccup is
    retried with backoff, any other error (or the last retry) marks the job failed."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status is not expected:
        return None  # done already (or never asked): nothing to do
    try:
        with task_transaction(), force_locale(_locale(job)):
            step(job, progress=import_ops.progress_recorder(job_id))
    except Exception as exc:
        if isinstance(exc, OperationalError) and task.request.retries < IMPORT_MAX_RETRIES:
            raise task.retry(exc=exc, countdown=10 * 2**task.request.retries) from exc
        with task_transaction():
            import_ops.mark_failed(job_id)
        raise
    return job.status.value


@celery_app.task(
    bind=True,
    name="merchants.check_catalogue_import",
    acks_late=True,
    max_retries=IMPORT_MAX_RETRIES,
)
def check_catalogue_import(self: Any, job_id: int) -> str | None:
    """The dry run of a long import: every row checked, the job valid or invalid."""
    return _run(self, job_id, ImportStatus.VALIDATING, import_ops.dry_run)


@celery_app.task(
    bind=True,
    name="merchants.apply_catalogue_import",
    acks_late=True,
    max_retries=IMPORT_MAX_RETRIES,
)
def apply_catalogue_import(self: Any, job_id: int) -> str | None:
    """Apply a long import, all or nothing, in this task's one transaction."""
    return _run(self, job_id, ImportStatus.APPLYING, import_ops.apply)
