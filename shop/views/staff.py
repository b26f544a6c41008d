"""The shop staff's view of their sub-orders."""

from __future__ import annotations

from flask import (
    Blueprint,
    render_template,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required
from merchants.operations import staff_shop_ids

from ..models import SubOrder, SubOrderStatus
from .common import METHOD_LABELS

staff_bp = Blueprint("shop_orders", __name__, url_prefix="/boutique/commandes")


@staff_bp.get("/")
@role_required(Role.MERCHANT)
def queue() -> str:
    """The sub-orders of the shops this account works for, newest first."""
    shop_ids = staff_shop_ids(current_user)
    subs = db.session.scalars(
        select(SubOrder)
        .where(SubOrder.shop_id.in_(shop_ids), SubOrder.status != SubOrderStatus.PENDING_PAYMENT)
        .options(
            selectinload(SubOrder.lines),
            joinedload(SubOrder.order),
            joinedload(SubOrder.shop),
        )
        .order_by(SubOrder.created_at.desc())
        .limit(200)
    ).all()
    return render_template("shop/staff_queue.html", subs=subs, method_labels=METHOD_LABELS)
