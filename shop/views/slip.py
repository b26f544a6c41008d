"""The printable packing slip of a sub-order, for its shop's staff only (any other
sub-order, or one not paid yet, is a 404). It carries what packing and handover need
and no more personal data: the customer's name, not their e-mail or phone."""

from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.extensions import db
from marketplace.models import Role
from marketplace.security import role_required
from merchants.operations import staff_shop_ids

from ..models import Order, SubOrder
from .common import METHOD_LABELS
from .staff import staff_bp


@staff_bp.get("/<int:sub_order_id>/bon")
@role_required(Role.MERCHANT)
def packing_slip(sub_order_id: int) -> str:
    sub = db.session.scalar(
        select(SubOrder)
        .join(SubOrder.order)
        .where(
            SubOrder.id == sub_order_id,
            SubOrder.shop_id.in_(staff_shop_ids(current_user)),
            Order.paid_at.is_not(None),
        )
        .options(
            selectinload(SubOrder.lines),
            joinedload(SubOrder.order),
            joinedload(SubOrder.shop),
        )
    )
    if sub is None:
        abort(404)
    return render_template(
        "shop/packing_slip.html",
        sub=sub,
        method_label=METHOD_LABELS[sub.fulfilment_method],
        item_count=sum(line.quantity for line in sub.lines),
    )
