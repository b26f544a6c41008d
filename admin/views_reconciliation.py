"""The ledger reconciled with Stripe: the latest reports and their differences, on
their own page and as a section of the settlement page; a day run on demand."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from marketplace.extensions import after_commit, db
from marketplace.models import Role, utcnow
from marketplace.security import role_required

from .settlement import reconciliation
from .settlement.models import ReconciliationReport
from .settlement.operations import PARIS
from .views import bp


@bp.app_template_global()
def latest_reconciliations(limit: int = 3) -> list[ReconciliationReport]:
    """For the settlement page's section (staff pages only call it)."""
    return reconciliation.latest_reports(limit)


def _page(day: str, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "admin/reconciliations.html",
            reports=reconciliation.latest_reports(10),
            day=day,
            error=error,
            paris=PARIS,
        ),
        status,
    )


def _yesterday() -> date:
    return reconciliation.previous_day()[0].astimezone(PARIS).date()


@bp.get("/rapprochements")
@role_required(Role.STAFF)
def reconciliations() -> tuple[str, int]:
    """The latest reconciliation reports, newest period first, every difference."""
    return _page(_yesterday().isoformat())


@bp.post("/rapprochements")
@role_required(Role.STAFF)
def run_reconciliation() -> Response | tuple[str, int]:
    """Reconcile one finished day now (in Celery); the day's report is replaced."""
    from .tasks import reconcile

    text = request.form.get("day", "").strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _page(text, _("Jour : une date au format AAAA-MM-JJ est attendue."), 422)
    if day >= utcnow().astimezone(PARIS).date():
        return _page(text, _("Jour : seuls les jours terminés peuvent être rapprochés."), 422)
    iso = day.isoformat()
    after_commit(lambda: reconcile.delay(iso))
    db.session.commit()
    flash(_("Le rapprochement du %(day)s est lancé.", day=iso), "success")
    return redirect(url_for("admin.reconciliations"))
