"""The merchant back office home: the shops this account works for."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required

from ..models import Shop
from ..operations import staff_shop_ids
from .common import bp


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
