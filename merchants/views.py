"""Merchant back office pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required

from .models import Shop, ShopStatus
from .operations import staff_shop_ids

SHOP_STATUS_LABELS = {
    ShopStatus.PENDING: _l("En attente de validation"),
    ShopStatus.APPROVED: _l("Validée"),
    ShopStatus.REFUSED: _l("Refusée"),
    ShopStatus.SUSPENDED: _l("Suspendue"),
}

bp = Blueprint("merchants", __name__, url_prefix="/boutique", template_folder="templates")


@bp.get("/")
@role_required(Role.MERCHANT)
def home() -> str:
    """The shops this account works for."""
    shops = db.session.scalars(
        select(Shop)
        .where(Shop.id.in_(staff_shop_ids(current_user)))
        .options(joinedload(Shop.commune))
        .order_by(Shop.name)
    ).all()
    return render_template("merchants/home.html", shops=shops)


@bp.app_template_filter("shop_status")
def shop_status_label(status: ShopStatus) -> str:
    return str(SHOP_STATUS_LABELS[status])
