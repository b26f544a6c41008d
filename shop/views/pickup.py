"""Click-and-collect at the counter, and the resident's cancellation.

- The pickup QR code on the resident's order page (template global `pickup_qr`): it
  opens the shop's handover page for that sub-order with the code filled in.
- The shop's handover page (`/boutique/commandes/retrait`): found by reference
  among the user's shops, the code checked by the hand-over action.
- The resident cancels a sub-order not yet accepted; it is refunded at once.
"""

from __future__ import annotations

import uuid

import segno
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.errors import wants_json
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role
from marketplace.security import role_required
from merchants.operations import staff_shop_ids

from ..models import Order, SubOrder, SubOrderStatus
from ..operations import orders as order_ops
from ..operations import refunds as refund_ops
from ..operations.errors import TransitionError
from .common import METHOD_LABELS, STATUS_LABELS, bp
from .staff import staff_bp

# Statuses in which the resident is shown the pickup code.
SHOW_PICKUP_CODE = {
    SubOrderStatus.PAID,
    SubOrderStatus.ACCEPTED,
    SubOrderStatus.PREPARING,
    SubOrderStatus.READY,
}


@staff_bp.app_template_global("shows_pickup_code")
def shows_pickup_code(sub: SubOrder) -> bool:
    return (
        sub.fulfilment_method is FulfilmentMethod.CLICK_AND_COLLECT
        and sub.status in SHOW_PICKUP_CODE
    )


@staff_bp.app_template_global("pickup_qr")
def pickup_qr(sub: SubOrder) -> Markup:
    """The pickup QR code as inline SVG, labelled for screen readers (the code is
    also printed next to it as text)."""
    url = url_for("shop_orders.pickup", ref=sub.reference, code=sub.pickup_code, _external=True)
    label = _("QR code de retrait de la commande %(ref)s", ref=sub.reference)
    svg = segno.make(url, error="m").svg_inline(
        scale=4, title=str(label), svgclass="pickup-qr", lineclass=None
    )
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return Markup(svg)  # noqa: S704 - segno's SVG of our own URL, label escaped


@staff_bp.get("/retrait")
@role_required(Role.MERCHANT)
def pickup() -> ResponseReturnValue:
    """What the shop sees when it scans the resident's QR code (or types the
    reference): the sub-order and a button that checks the code and hands it over."""
    ref = (request.args.get("ref") or "").strip().upper()
    sub = None
    if ref:
        sub = db.session.scalar(
            select(SubOrder)
            .where(
                SubOrder.reference == ref,
                SubOrder.shop_id.in_(staff_shop_ids(current_user)),
            )
            .options(selectinload(SubOrder.lines), joinedload(SubOrder.order))
        )
    status = 404 if ref and sub is None else 200
    return render_template(
        "shop/pickup.html",
        sub=sub,
        ref=ref,
        code=(request.args.get("code") or "")[:8],
        method_labels=METHOD_LABELS,
    ), status


@bp.post("/commandes/<uuid:public_id>/<int:sub_id>/annuler")
@login_required
def cancel_sub_order(public_id: uuid.UUID, sub_id: int) -> ResponseReturnValue:
    """The resident cancels a sub-order the shop has not accepted; refunded at once."""
    sub = db.session.scalar(
        select(SubOrder)
        .join(SubOrder.order)
        .where(
            SubOrder.id == sub_id,
            Order.public_id == public_id,
            Order.user_id == current_user.id,
        )
        .options(selectinload(SubOrder.lines), joinedload(SubOrder.order))
    )
    if sub is None:
        abort(404)  # someone else's order is as absent as a missing one
    back = url_for("storefront.order_detail", public_id=public_id)
    try:
        order_ops.cancel_by_resident(sub, current_user)
    except order_ops.NotAllowed:
        db.session.rollback()
        abort(404)
    except TransitionError:
        db.session.rollback()
        db.session.refresh(sub)
        message = _(
            "Cette commande ne peut plus être annulée : elle est « %(status)s ».",
            status=STATUS_LABELS[sub.status],
        )
        if wants_json():
            return jsonify(code=409, status="Conflict", message=message), 409
        flash(message, "error")
        return redirect(back, code=303)
    except refund_ops.RefundFailed:
        db.session.commit()  # cancelled; the failed refund is retried by the scheduler
        flash(_("Commande annulée. Le remboursement a échoué, il sera retenté."), "error")
        return redirect(back, code=303)
    db.session.commit()
    flash(_("Commande annulée : vous êtes remboursé."), "success")
    return redirect(back, code=303)
