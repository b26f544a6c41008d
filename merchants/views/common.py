"""The merchant back office blueprint and what its pages share."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from marketplace.extensions import db, fits_id

from ..models import Shop, ShopStaff, ShopStatus, StaffRole

SHOP_STATUS_LABELS = {
    ShopStatus.PENDING: _l("En attente de validation"),
    ShopStatus.APPROVED: _l("Validée"),
    ShopStatus.REFUSED: _l("Refusée"),
    ShopStatus.SUSPENDED: _l("Suspendue"),
}

bp = Blueprint(
    "merchants",
    "merchants",  # templates live in the merchants package
    url_prefix="/boutique",
    template_folder="templates",
)


@bp.app_template_filter("shop_status")
def shop_status_label(status: ShopStatus) -> str:
    return str(SHOP_STATUS_LABELS[status])


def staff_shop_or_404(shop_id: int, owner_only: bool = False) -> Shop:
    """The shop if the signed-in user works for it (its owner when asked), else 404.

    A 404 rather than a 403: another shop's pages are as absent as missing ones.
    """
    if not fits_id(shop_id):
        abort(404)
    membership = db.session.scalar(
        select(ShopStaff).where(ShopStaff.shop_id == shop_id, ShopStaff.user_id == current_user.id)
    )
    if membership is None or (owner_only and membership.role is not StaffRole.OWNER):
        abort(404)
    return membership.shop
