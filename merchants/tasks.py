"""Thin Celery tasks of the merchant domain: long catalogue imports.

Each task receives an import job id, owns its transaction (one commit) and calls one
operation. Both are idempotent: a job already checked or applied is left as it is, so
a task delivered twice (acks_late: redelivered when a worker dies) changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from sqlalchemy.exc import OperationalError

from marketplace.extensions import celery_app, db
from marketplace.models import User

from .models import ImportJob, ImportStatus
from .operations import imports as import_ops

IMPORT_MAX_RETRIES = 3


def _locale(job: ImportJob) -> str:
    """The messages of the report in the language of the person who sent the file."""
    user = db.session.get(User, job.user_id) if job.user_id else None
    return (user.locale if user is not None else None) or "fr"


def _retry_or_fail(task: Any, job_id: int, exc: Exception) -> None:
    db.session.rollback()
    if isinstance(exc, OperationalError) and task.request.retries < IMPORT_MAX_RETRIES:
        raise task.retry(exc=exc, countdown=10 * 2**task.request.retries) from exc
    import_ops.mark_failed(job_id)
    db.session.commit()
    raise exc


@celery_app.task(
    bind=True,
    name="merchants.check_catalogue_import",
    acks_late=True,
    max_retries=IMPORT_MAX_RETRIES,
)
def check_catalogue_import(self: Any, job_id: int) -> str | None:
    """The dry run of a long import: every row checked, the job valid or invalid."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status is not ImportStatus.VALIDATING:
        return None
    try:
        with force_locale(_locale(job)):
            import_ops.dry_run(job, progress=import_ops.progress_recorder(job_id))
        db.session.commit()
    except Exception as exc:
        _retry_or_fail(self, job_id, exc)
    return job.status.value


@celery_app.task(
    bind=True,
    name="merchants.apply_catalogue_import",
    acks_late=True,
    max_retries=IMPORT_MAX_RETRIES,
)
def apply_catalogue_import(self: Any, job_id: int) -> str | None:
    """Apply a long import, all or nothing, in this task's one transaction."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status is not ImportStatus.APPLYING:
        return None  # applied already (or never asked): nothing to do
    try:
        with force_locale(_locale(job)):
            import_ops.apply(job, progress=import_ops.progress_recorder(job_id))
        db.session.commit()
    except Exception as exc:
        _retry_or_fail(self, job_id, exc)
    return job.status.value
