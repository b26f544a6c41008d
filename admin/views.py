"""The collectivité's back office."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ambassadors import operations as cityzen_ops
from marketplace.extensions import after_commit, db
from marketplace.models import Role, utcnow
from marketplace.security import role_required
from merchants.forms import RefuseShopForm, ShopInvitationForm
from merchants.models import Shop
from merchants.operations import onboarding

from . import operations
from .settlement import documents
from .settlement import invoices as settlement_invoices
from .settlement import operations as settlement_ops
from .settlement.models import Settlement
from .settlement.settings import territories_missing_seller

bp = Blueprint("admin", __name__, url_prefix="/collectivite", template_folder="templates")


@bp.get("/")
@role_required(Role.STAFF)
def dashboard() -> str:
    """First adoption figures: shops by status, paid orders."""
    return render_template(
        "admin/dashboard.html",
        figures=operations.dashboard_figures(),
        cityzens=cityzen_ops.figures(),
    )


# Shops waiting for approval, and the collectivité's invitations -------------------


def _shops_page(
    refuse_form: RefuseShopForm | None = None,
    refused_id: int | None = None,
    invite_form: ShopInvitationForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "admin/shops.html",
            shops=onboarding.pending_shops(),
            refuse_form=refuse_form or RefuseShopForm(formdata=None),
            refused_id=refused_id,
            invite_form=invite_form or ShopInvitationForm(formdata=None),
            invitations=onboarding.open_shop_invitations(),
        ),
        status,
    )


@bp.get("/boutiques")
@role_required(Role.STAFF)
def shops() -> tuple[str, int]:
    """Shops waiting for approval, with approve and refuse buttons; invitations."""
    return _shops_page()


def _decide_shop(decide: Callable[[], Shop | None], done: Callable[[Shop], str]) -> Response:
    """Apply staff's decision on a pending shop and flash `done`; a shop decided on
    meanwhile is flashed, an unknown one a 404."""
    try:
        shop = decide()
    except onboarding.NotPending:
        db.session.rollback()
        flash(_("Cette boutique a déjà été traitée."), "error")
        return redirect(url_for("admin.shops"))
    if shop is None:
        abort(404)
    db.session.commit()
    flash(done(shop), "success")
    return redirect(url_for("admin.shops"))


@bp.post("/boutiques/<int:shop_id>/valider")
@role_required(Role.STAFF)
def approve_shop(shop_id: int) -> Response:
    """Make a pending shop visible to residents and tell its owners."""
    staff = current_user._get_current_object()
    return _decide_shop(
        lambda: onboarding.approve_shop(shop_id, staff),
        lambda shop: _("%(name)s est validée : elle est visible des habitants.", name=shop.name),
    )


@bp.post("/boutiques/<int:shop_id>/refuser")
@role_required(Role.STAFF)
def refuse_shop(shop_id: int) -> Response | tuple[str, int]:
    """Refuse a pending shop; the reason is mailed to its owners."""
    form = RefuseShopForm()
    if not form.validate_on_submit():
        return _shops_page(refuse_form=form, refused_id=shop_id, status=422)
    staff = current_user._get_current_object()
    return _decide_shop(
        lambda: onboarding.refuse_shop(shop_id, form.reason.data or "", staff),
        lambda shop: _("%(name)s est refusée ; le motif lui est envoyé.", name=shop.name),
    )


@bp.post("/boutiques/invitations")
@role_required(Role.STAFF)
def invite_shop() -> Response | tuple[str, int]:
    """Invite a shop by e-mail: the link pre-fills its sign-up."""
    form = ShopInvitationForm()
    if not form.validate_on_submit():
        return _shops_page(invite_form=form, status=422)
    onboarding.create_shop_invitation(
        email=form.email.data or "",
        shop_name=form.shop_name.data or "",
        invited_by=current_user._get_current_object(),
    )
    db.session.commit()
    flash(_("Invitation envoyée à %(email)s.", email=form.email.data), "success")
    return redirect(url_for("admin.shops"))


# Settlement runs: totals, failures and retry; commission revenue by month ----------


def _week_start(text: str) -> datetime:
    """The UTC start of the Europe/Paris week holding the date `text` (YYYY-MM-DD)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(404)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=settlement_ops.PARIS)
    return settlement_ops.week_of(noon)[0]


@bp.get("/reversements")
@role_required(Role.STAFF)
def settlements() -> str:
    """Every settlement run with its totals and failures; commission by month."""
    last_week = settlement_ops.previous_week()[0].astimezone(settlement_ops.PARIS).date()
    return render_template(
        "admin/settlements.html",
        incomplete_sellers=territories_missing_seller(),
        runs=settlement_ops.runs(),
        months=operations.monthly_revenue(),
        default_week=last_week.isoformat(),
        paris=settlement_ops.PARIS,
    )


@bp.get("/reversements/<week>")
@role_required(Role.STAFF)
def settlement_run(week: str) -> str:
    """One run: each shop's settlement, failures first, with a retry button."""
    start = _week_start(week)
    rows = settlement_ops.run_settlements(start)
    if not rows:
        abort(404)
    return render_template(
        "admin/settlement_run.html",
        rows=rows,
        invoices=settlement_invoices.by_settlement([s.id for s, _name in rows]),
        period_start=start,
        period_end=rows[0][0].period_end,
        week=week,
        paris=settlement_ops.PARIS,
        can_retry=settlement_ops.can_retry,
    )


@bp.post("/reversements/lancer")
@role_required(Role.STAFF)
def start_settlement_run() -> Response:
    """Run (or resume) the settlement of one finished week, on demand: the
    settlements are made here, each one settled by its own task after commit."""
    from .tasks import _enqueue

    week = request.form.get("week", "")
    try:
        date.fromisoformat(week)
    except ValueError:
        flash(_("Semaine du : indiquez une date (jj/mm/aaaa)."), "error")
        return redirect(url_for("admin.settlements"))
    start = _week_start(week)
    try:
        ids = settlement_ops.start_run(*settlement_ops.week_of(start))
    except settlement_ops.PeriodNotEnded:
        db.session.rollback()
        flash(_("Seules les semaines terminées peuvent être réglées."), "error")
        return redirect(url_for("admin.settlements"))
    after_commit(lambda: _enqueue(ids))
    db.session.commit()
    flash(_("Le règlement de la semaine du %(week)s est lancé.", week=week), "success")
    return redirect(url_for("admin.settlements"))


@bp.post("/reversements/reglement/<int:settlement_id>/relancer")
@role_required(Role.STAFF)
def retry_settlement(settlement_id: int) -> Response:
    """Try a failed (or stuck) settlement again; never pays twice."""
    from .tasks import settle

    found = db.session.get(Settlement, settlement_id)
    if found is None:
        abort(404)
    week = found.period_start.astimezone(settlement_ops.PARIS).date().isoformat()
    if not settlement_ops.can_retry(found):
        flash(_("Ce reversement est déjà payé."), "error")
        return redirect(url_for("admin.settlement_run", week=week))
    after_commit(lambda: settle.delay(settlement_id))
    db.session.commit()
    flash(_("Nouvelle tentative lancée."), "success")
    return redirect(url_for("admin.settlement_run", week=week))


def download(data: str | bytes, mimetype: str, filename: str) -> Response:
    """A document as an attachment, never cached by a shared proxy."""
    return Response(
        data,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def statement_csv(found: Settlement) -> Response:
    """A settlement's statement as a CSV download: each sale and refund, then totals."""
    name = documents.file_stem("releve", found)
    return download(documents.statement_csv(found), "text/csv", f"{name}.csv")


def statement_pdf(found: Settlement) -> Response:
    """The same statement as PDF, totals adding up to the payout."""
    name = documents.file_stem("releve", found)
    return download(documents.statement_pdf(found), "application/pdf", f"{name}.pdf")


def invoice_download(found: Settlement, fmt: str) -> Response:
    """The settlement's commission invoice (or credit note) as PDF or CSV; 404 when
    it has none (no commission, or not computed yet)."""
    invoice = settlement_invoices.of_settlement(found.id)
    if invoice is None or fmt not in ("pdf", "csv"):
        abort(404)
    if fmt == "pdf":
        return download(
            documents.invoice_pdf(invoice), "application/pdf", f"{invoice.reference}.pdf"
        )
    return download(documents.invoice_csv(invoice), "text/csv", f"{invoice.reference}.csv")


def _settlement_or_404(settlement_id: int) -> Settlement:
    return db.get_or_404(Settlement, settlement_id)


@bp.get("/reversements/reglement/<int:settlement_id>.csv")
@role_required(Role.STAFF)
def settlement_statement(settlement_id: int) -> Response:
    """The settlement's statement as CSV, for the collectivité."""
    return statement_csv(_settlement_or_404(settlement_id))


@bp.get("/reversements/reglement/<int:settlement_id>.pdf")
@role_required(Role.STAFF)
def settlement_statement_pdf(settlement_id: int) -> Response:
    """The settlement's statement as PDF, for the collectivité."""
    return statement_pdf(_settlement_or_404(settlement_id))


@bp.get("/reversements/reglement/<int:settlement_id>/facture.<fmt>")
@role_required(Role.STAFF)
def settlement_invoice(settlement_id: int, fmt: str) -> Response:
    """The settlement's commission invoice or credit note, PDF or CSV."""
    return invoice_download(_settlement_or_404(settlement_id), fmt)


@bp.get("/reversements/<week>/virements-sepa.xml")
@role_required(Role.STAFF)
def settlement_sepa_file(week: str) -> Response:
    """The run's SEPA credit-transfer file (pain.001) for the treasury."""
    from .settlement.sepa import SepaNotConfigured, pain001

    start = _week_start(week)
    try:
        made = pain001(start, utcnow().astimezone(settlement_ops.PARIS).date())
    except SepaNotConfigured:
        flash(_("Le compte de la collectivité (SEPA) n'est pas configuré."), "error")
        return redirect(url_for("admin.settlement_run", week=week))
    for _id, name in made.missing_iban:
        flash(
            _("%(shop)s n'a pas d'IBAN : son virement n'est pas dans le fichier.", shop=name),
            "error",
        )
    if not made.count:
        flash(_("Aucun virement SEPA pour cette semaine."), "error")
        return redirect(url_for("admin.settlement_run", week=week))
    return Response(
        made.xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="virements-{week}.xml"'},
    )
