"""The collectivité's back office."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required
from merchants.models import Shop
from shop.models import Order, OrderStatus

bp = Blueprint("admin", __name__, url_prefix="/collectivite", template_folder="templates")


@bp.get("/")
@role_required(Role.STAFF)
def dashboard() -> str:
    """First adoption figures: shops by status, paid orders."""
    shops_by_status = db.session.execute(
        select(Shop.status, func.count()).group_by(Shop.status)
    ).all()
    paid_orders, sales = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_cents), 0)).where(
            Order.status == OrderStatus.PAID
        )
    ).one()
    return render_template(
        "admin/dashboard.html",
        shops_by_status=shops_by_status,
        paid_orders=paid_orders,
        sales=sales,
    )
