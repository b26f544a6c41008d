"""Running an import: over a source (the CLI, the tests) or as a job (the uploaded
file kept, its dry run and application, progress)."""

from __future__ import annotations

import time

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, text, update

from marketplace.extensions import db
from marketplace.models import User, utcnow

from ...models import (
    ImportFormat,
    ImportJob,
    ImportStatus,
    Shop,
)
from .. import catalogue as cat
from .common import DEFAULT_ASYNC_ROWS, ImportFileError, Progress, Report
from .importer import _Importer
from .readers import open_table
from .sources import Source, source_from_bytes

# -- running an import ---------------------------------------------------------------


def check_rows(
    shop: Shop, source: Source, *, write: bool = False, progress: Progress | None = None
) -> Report:
    """Read the whole file and report; with `write`, also apply the rows.

    The writes run in the caller's transaction: when the report is not ok, the caller
    must roll them back (`apply_source` does, with a savepoint).
    """
    report = Report()
    try:
        with open_table(source) as table:
            report.encoding = table.encoding
            report.delimiter = table.delimiter
            if table.encoding == "cp1252":
                report.add(
                    None,
                    None,
                    _(
                        "Fichier encodé en Windows-1252 (pas en UTF-8) : lu comme tel. "
                        "Vérifiez les accents, ou enregistrez en « CSV UTF-8 »."
                    ),
                    warning=True,
                )
            if table.unknown_columns:
                report.add(
                    None,
                    None,
                    _(
                        "Colonnes ignorées : %(columns)s.",
                        columns=", ".join(table.unknown_columns[:10]),
                    ),
                    warning=True,
                )
            _Importer(shop, report, write, progress).run(table)
    except ImportFileError as exc:
        report.add(None, exc.column, exc.message)
    return report


def estimate_rows(source: Source) -> int:
    """A quick count of the data rows (for progress bars and the async threshold)."""
    try:
        if source.format is ImportFormat.CSV:
            with source.open() as stream:
                lines = 0
                while chunk := stream.read(1024 * 1024):
                    lines += chunk.count(b"\n")
            return max(lines - 1, 0)
        with open_table(source) as table:
            return table.count_rows()
    except (ImportFileError, OSError):
        return 0


def apply_source(shop: Shop, source: Source, progress: Progress | None = None) -> Report:
    """Check and apply the file in a savepoint: everything, or nothing when any row
    is wrong. Serialised per shop with the catalogue's other writes."""
    cat.lock_shop_catalogue(shop)
    savepoint = db.session.begin_nested()
    try:
        report = check_rows(shop, source, write=True, progress=progress)
    except BaseException:
        savepoint.rollback()
        raise
    if report.ok:
        savepoint.commit()
    else:
        savepoint.rollback()
    return report


# -- jobs -----------------------------------------------------------------------------


def async_threshold() -> int:
    return int(current_app.config.get("CATALOGUE_IMPORT_ASYNC_ROWS", DEFAULT_ASYNC_ROWS))


def create_job(shop: Shop, user: User | None, filename: str, content: bytes) -> ImportJob:
    """Keep the uploaded file as a job; counts its rows. Format problems are reported
    by the dry run, not here."""
    try:
        source: Source | None = source_from_bytes(content, filename)
    except ImportFileError:
        source = None
    job = ImportJob(
        shop_id=shop.id,
        user_id=user.id if user is not None else None,
        filename=(filename or "catalogue")[-255:],
        format=source.format if source else ImportFormat.CSV,
        status=ImportStatus.UPLOADED,
        size_bytes=len(content),
        total_rows=estimate_rows(source) if source else 0,
        content=content,
        errors=[],
        summary={},
    )
    db.session.add(job)
    db.session.flush()
    return job


def is_long(job: ImportJob) -> bool:
    return job.total_rows > async_threshold()


def _job_source(job: ImportJob) -> Source:
    content = job.content
    if content is None:
        raise ImportFileError(_("Le fichier de cet import n'est plus disponible."))
    return source_from_bytes(content, job.filename)


def _record(job: ImportJob, report: Report, status: ImportStatus) -> None:
    job.status = status
    job.errors = report.problems
    job.error_count = report.error_count
    job.summary = report.summary()
    job.total_rows = report.rows
    job.processed_rows = report.rows
    job.finished_at = utcnow()


def dry_run(job: ImportJob, progress: Progress | None = None) -> Report:
    """Check every row of the job's file; the job becomes valid or invalid."""
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    try:
        report = check_rows(shop, _job_source(job), progress=progress)
    except ImportFileError as exc:
        report = Report()
        report.add(None, exc.column, exc.message)
    _record(job, report, ImportStatus.VALID if report.ok else ImportStatus.INVALID)
    db.session.flush()
    return report


def apply(job: ImportJob, progress: Progress | None = None) -> Report | None:
    """Apply a valid job, all or nothing; idempotent (an applied job is left as is).

    Returns None when there was nothing to do. The rows are checked again (the
    catalogue may have changed since the dry run): with any error, nothing is
    written and the job becomes invalid.
    """
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    cat.lock_shop_catalogue(shop)
    db.session.refresh(job)  # another run may have applied it while we waited
    if job.status not in (ImportStatus.VALID, ImportStatus.APPLYING):
        return None
    try:
        report = apply_source(shop, _job_source(job), progress=progress)
    except ImportFileError as exc:
        report = Report()
        report.add(None, exc.column, exc.message)
    if report.ok:
        _record(job, report, ImportStatus.APPLIED)
        job.content = None  # the catalogue holds it now
    else:
        _record(job, report, ImportStatus.INVALID)
    db.session.flush()
    return report


def mark_failed(job_id: int) -> None:
    """After an unexpected error (the transaction rolled back): say so on the job."""
    job = db.session.get(ImportJob, job_id)
    if job is not None and job.status is not ImportStatus.APPLIED:
        job.status = ImportStatus.FAILED
        job.finished_at = utcnow()
        db.session.flush()


def progress_recorder(job_id: int, every_seconds: float = 0.5) -> Progress:
    """A progress callback writing `processed_rows` outside the import's transaction
    (its own short one), so a page polling the job sees it move.

    Only on PostgreSQL: SQLite has one writer at a time (and there imports run in the
    web process anyway). It never fails the import.
    """
    last = 0.0

    def record(rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_seconds or db.engine.dialect.name != "postgresql":
            return
        last = now
        try:
            with db.engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '1s'"))
                conn.execute(
                    update(ImportJob).where(ImportJob.id == job_id).values(processed_rows=rows)
                )
        except Exception:
            current_app.logger.info("import %s: progress not recorded", job_id)

    return record


def job_of_shop(shop: Shop, job_id: int) -> ImportJob | None:
    """The shop's import job with that id, or None (never another shop's)."""
    return db.session.scalar(
        select(ImportJob).where(ImportJob.id == job_id, ImportJob.shop_id == shop.id)
    )


def recent_jobs(shop: Shop, limit: int = 10) -> list[ImportJob]:
    return list(
        db.session.scalars(
            select(ImportJob)
            .where(ImportJob.shop_id == shop.id)
            .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
            .limit(limit)
        )
    )
