"""Catalogue import and export pages: templates to download, upload → dry run →
apply, a progress bar for long imports (Celery), exports in CSV and XLSX.

Every page goes through `staff_shop_or_404`: another shop's staff get 404.
"""

from __future__ import annotations

import tempfile
from typing import Any

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge

from marketplace.errors import handle_too_large, size_text
from marketplace.extensions import after_commit, db
from marketplace.models import Role
from marketplace.security import role_required

from ..models import ImportJob, ImportStatus, Shop
from ..operations import exports as export_ops
from ..operations import imports as import_ops
from .common import bp, staff_shop_or_404

UPLOAD_ENDPOINT = "merchants.import_upload"

STATUS_LABELS = {
    ImportStatus.UPLOADED: _l("Reçu"),
    ImportStatus.VALIDATING: _l("Vérification en cours"),
    ImportStatus.VALID: _l("Prêt à importer"),
    ImportStatus.INVALID: _l("À corriger"),
    ImportStatus.APPLYING: _l("Import en cours"),
    ImportStatus.APPLIED: _l("Importé"),
    ImportStatus.FAILED: _l("Échec (rien n'a été modifié)"),
}


class UploadForm(FlaskForm):
    file = FileField(
        _l(
            "Fichier CSV ou XLSX (%(size)s au plus)",
            size=LazyString(size_text, import_ops.MAX_UPLOAD_BYTES),
        ),
        validators=[FileRequired(_l("Choisissez un fichier CSV ou XLSX."))],
    )


def _too_large_message() -> str:
    return _(
        "Fichier trop volumineux : %(size)s au plus.", size=size_text(import_ops.MAX_UPLOAD_BYTES)
    )


class ApplyForm(FlaskForm):
    """Only the CSRF token: the job is in the URL."""


@bp.app_template_filter("import_status")
def import_status_label(status: ImportStatus) -> str:
    return str(STATUS_LABELS[status])


@bp.url_value_preprocessor
def _limit_import_size(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before the CSRF check reads the body: larger uploads get 413 unread.
    if endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = import_ops.MAX_UPLOAD_BYTES + 64 * 1024


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    if request.endpoint != UPLOAD_ENDPOINT or not request.view_args:
        return handle_too_large(exc)
    shop = staff_shop_or_404(request.view_args["shop_id"])
    form = UploadForm(formdata=None)
    form.file.errors = [import_ops.too_large_message()]
    return _render_index(shop, form), 413


def _render_index(shop: Shop, form: UploadForm) -> str:
    return render_template(
        "merchants/imports/index.html",
        shop=shop,
        form=form,
        jobs=import_ops.recent_jobs(shop),
        columns=export_ops.column_help(),
        max_size=size_text(import_ops.MAX_UPLOAD_BYTES),
    )


def _job_or_404(shop: Shop, job_id: int) -> ImportJob:
    job = import_ops.job_of_shop(shop, job_id)
    if job is None:
        abort(404)
    return job


@bp.get("/<int:shop_id>/catalogue/import")
@role_required(Role.MERCHANT)
def import_index(shop_id: int) -> ResponseReturnValue:
    shop = staff_shop_or_404(shop_id)
    return _render_index(shop, UploadForm())


@bp.get("/<int:shop_id>/catalogue/modele.<fmt>")
@role_required(Role.MERCHANT)
def import_template(shop_id: int, fmt: str) -> ResponseReturnValue:
    staff_shop_or_404(shop_id)
    if fmt == "csv":
        content, mimetype = export_ops.template_csv(), "text/csv"
    elif fmt == "xlsx":
        content, mimetype = export_ops.template_xlsx(), XLSX_MIMETYPE
    else:
        abort(404)
    return _download(content, mimetype, f"modele-catalogue.{fmt}")


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(content: bytes, mimetype: str, filename: str) -> ResponseReturnValue:
    import io

    return send_file(
        io.BytesIO(content), mimetype=mimetype, as_attachment=True, download_name=filename
    )


@bp.post("/<int:shop_id>/catalogue/import")
@role_required(Role.MERCHANT)
def import_upload(shop_id: int) -> ResponseReturnValue:
    """Keep the file as a job and check it: here when short, in Celery when long."""
    shop = staff_shop_or_404(shop_id)
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_index(shop, form), 422
    upload = form.file.data
    content = upload.read(import_ops.MAX_UPLOAD_BYTES + 1)
    if len(content) > import_ops.MAX_UPLOAD_BYTES:
        form.file.errors = [import_ops.too_large_message()]
        return _render_index(shop, form), 413
    if not content:
        form.file.errors = [_("Ce fichier est vide.")]
        return _render_index(shop, form), 422
    job = import_ops.create_job(shop, current_user, upload.filename or "", content)
    if import_ops.is_long(job):
        job.status = ImportStatus.VALIDATING
        _enqueue_after_commit("check", job.id)
    else:
        import_ops.dry_run(job)
    db.session.commit()
    return redirect(url_for("merchants.import_job", shop_id=shop.id, job_id=job.id), 303)


def _enqueue_after_commit(what: str, job_id: int) -> None:
    from ..tasks import apply_catalogue_import, check_catalogue_import

    task = check_catalogue_import if what == "check" else apply_catalogue_import
    after_commit(lambda: task.delay(job_id))


@bp.get("/<int:shop_id>/catalogue/import/<int:job_id>")
@role_required(Role.MERCHANT)
def import_job(shop_id: int, job_id: int) -> ResponseReturnValue:
    shop = staff_shop_or_404(shop_id)
    job = _job_or_404(shop, job_id)
    return render_template(
        "merchants/imports/job.html",
        shop=shop,
        job=job,
        form=ApplyForm(),
        errors=[p for p in job.errors if p.get("level") != "warning"],
        warnings=[p for p in job.errors if p.get("level") == "warning"],
    )


def _status(job: ImportJob) -> dict[str, Any]:
    total = max(job.total_rows, job.processed_rows, 1)
    return {
        "id": job.id,
        "status": job.status.value,
        "label": import_status_label(job.status),
        "running": job.is_running,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "percent": 100 if not job.is_running else min(99, 100 * job.processed_rows // total),
        "error_count": job.error_count,
        "summary": job.summary,
    }


@bp.get("/<int:shop_id>/catalogue/import/<int:job_id>/etat.json")
@role_required(Role.MERCHANT)
def import_status(shop_id: int, job_id: int) -> ResponseReturnValue:
    shop = staff_shop_or_404(shop_id)
    response = jsonify(_status(_job_or_404(shop, job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:shop_id>/catalogue/import/<int:job_id>/appliquer")
@role_required(Role.MERCHANT)
def import_apply(shop_id: int, job_id: int) -> ResponseReturnValue:
    """Apply a checked file, all or nothing; a second click changes nothing."""
    shop = staff_shop_or_404(shop_id)
    job = _job_or_404(shop, job_id)
    form = ApplyForm()
    target = url_for("merchants.import_job", shop_id=shop.id, job_id=job.id)
    if not form.validate_on_submit():
        abort(400)
    if job.status is not ImportStatus.VALID:
        if job.status is not ImportStatus.APPLIED and not job.is_running:
            flash(_("Ce fichier ne peut pas être importé en l'état."), "error")
        return redirect(target, 303)
    if import_ops.is_long(job):
        job.status = ImportStatus.APPLYING
        job.processed_rows = 0
        _enqueue_after_commit("apply", job.id)
        db.session.commit()
        return redirect(target, 303)
    report = import_ops.apply(job)
    db.session.commit()
    if report is not None and report.ok:
        flash(_("Catalogue importé : %(n)d lignes.", n=report.rows), "success")
    elif report is not None:
        flash(_("Rien n'a été importé : le fichier a des erreurs."), "error")
    return redirect(target, 303)


@bp.get("/<int:shop_id>/catalogue/export.<fmt>")
@role_required(Role.MERCHANT)
def catalogue_export(shop_id: int, fmt: str) -> ResponseReturnValue:
    shop = staff_shop_or_404(shop_id)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - sent below
    if fmt == "csv":
        export_ops.write_csv(shop.id, spool)
        mimetype = "text/csv"
    else:
        export_ops.write_xlsx(shop.id, spool)
        mimetype = XLSX_MIMETYPE
    spool.seek(0)
    return send_file(
        spool,
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"catalogue-{shop.slug}.{fmt}",
    )
