"""The shop's side of settlement: its balance to come, its settlements, their
statements (CSV, PDF) and commission invoices (PDF, CSV).

Pages for the shop's own staff only (`staff_shop_or_404`): another shop's are 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from marketplace import ledger
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required
from merchants.views.common import staff_shop_or_404

from . import views as admin_views
from .settlement import invoices as settlement_invoices
from .settlement import operations as settlement_ops
from .settlement.models import Settlement

bp = Blueprint("shop_payouts", __name__, url_prefix="/boutique", template_folder="templates")


@bp.get("/<int:shop_id>/reversements")
@role_required(Role.MERCHANT)
def payouts(shop_id: int) -> str:
    """The balance to come and every settlement of the shop, newest first."""
    shop = staff_shop_or_404(shop_id)
    # The payable is a liability: what the platform owes the shop is its credit.
    to_receive = -ledger.balance(ledger.shop_payable(shop.id)[0])
    settlements = db.session.scalars(
        select(Settlement)
        .where(Settlement.shop_id == shop.id)
        .order_by(Settlement.period_start.desc())
    ).all()
    return render_template(
        "admin/shop_payouts.html",
        shop=shop,
        to_receive=to_receive,
        settlements=settlements,
        invoices=settlement_invoices.by_settlement([s.id for s in settlements]),
        paris=settlement_ops.PARIS,
    )


def _own_settlement(shop_id: int) -> Settlement:
    """The settlement `?reglement=<id>` of a shop the user staffs; 404 otherwise."""
    shop = staff_shop_or_404(shop_id)
    settlement_id = request.args.get("reglement", type=int)
    found = db.get_or_404(Settlement, settlement_id)
    if found.shop_id != shop.id:
        abort(404)
    return found


@bp.get("/<int:shop_id>/reversements/releve.csv")
@role_required(Role.MERCHANT)
def statement(shop_id: int) -> Response:
    """One settlement's CSV statement (`?reglement=<id>`), the collectivité's own."""
    return admin_views.statement_csv(_own_settlement(shop_id))


@bp.get("/<int:shop_id>/reversements/releve.pdf")
@role_required(Role.MERCHANT)
def statement_pdf(shop_id: int) -> Response:
    """One settlement's statement as PDF (`?reglement=<id>`)."""
    return admin_views.statement_pdf(_own_settlement(shop_id))


@bp.get("/<int:shop_id>/reversements/facture.<fmt>")
@role_required(Role.MERCHANT)
def invoice(shop_id: int, fmt: str) -> Response:
    """One settlement's commission invoice or credit note (`?reglement=<id>`)."""
    return admin_views.invoice_download(_own_settlement(shop_id), fmt)
