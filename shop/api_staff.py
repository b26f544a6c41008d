"""The shop staff's order queue in the JSON API: what the queue page does, for a till.

A merchant's bearer token; the shop in the path must be one the account works for,
and a sub-order of another shop is as absent as a missing one (404). The actions
are the state machine's (shop.operations.orders, .refunds): 409 when the sub-order's
status does not allow it, 422 naming the field for a wrong pickup code or refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import BadGateway, Conflict, NotFound

from marketplace.api_auth import api_user
from marketplace.api_auth import init_app as init_api_auth
from marketplace.api_common import fail, field_error, paginate
from marketplace.extensions import MAX_ID, csrf, db
from merchants.api import merchant_only, staff_shop

from .models import Order, SubOrder
from .operations import orders as order_ops
from .operations import refunds as refund_ops
from .operations.errors import TransitionError
from .schemas_staff import (
    HandOverArgsSchema,
    RefuseArgsSchema,
    StaffRefundArgsSchema,
    StaffRefundSchema,
    StaffSubOrderQueryArgsSchema,
    StaffSubOrderSchema,
    StaffSubOrderSummarySchema,
)
from .views.common import STATUS_LABELS

blp = Blueprint(
    "shop_staff_api",
    __name__,
    url_prefix="/api/v1/merchant",
    description="Merchant: the shop's order queue (accept, prepare, hand over, refund)",
)
blp.DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 100}
csrf.exempt(blp)  # token only, no cookie: CSRF does not apply
blp.record_once(lambda state: init_api_auth(state.app))

authenticated = merchant_only(blp)
REFUND_FIELDS = {"amount": "amount_cents"}


def _sub(shop_id: int, sub_id: int) -> SubOrder:
    """A paid sub-order of the shop; any other is not found."""
    shop = staff_shop(shop_id)
    sub = None
    if sub_id <= MAX_ID:
        sub = db.session.scalar(
            select(SubOrder)
            .join(SubOrder.order)
            .where(
                SubOrder.id == sub_id,
                SubOrder.shop_id == shop.id,
                Order.paid_at.is_not(None),
            )
            .options(
                selectinload(SubOrder.lines),
                selectinload(SubOrder.history),
                joinedload(SubOrder.order),
            )
            .execution_options(populate_existing=True)
        )
    if sub is None:
        fail(NotFound, _("Commande introuvable."))
    return sub


def _fresh(sub: SubOrder) -> SubOrder:
    return _sub(sub.shop_id, sub.id)


def _not_now(sub: SubOrder) -> None:
    db.session.rollback()
    db.session.refresh(sub)
    fail(
        Conflict,
        _(
            "Action impossible : la commande %(ref)s est « %(status)s ».",
            ref=sub.reference,
            status=STATUS_LABELS[sub.status],
        ),
        {"json": {"status": [sub.status.value]}},
    )


@blp.route("/shops/<int:shop_id>/orders")
class Queue(MethodView):
    @authenticated
    @blp.arguments(StaffSubOrderQueryArgsSchema, location="query")
    @blp.response(200, StaffSubOrderSummarySchema(many=True))
    @blp.paginate()
    def get(
        self, args: Mapping[str, Any], shop_id: int, pagination_parameters: PaginationParameters
    ) -> Any:
        """List the shop's order queue

        The shop's paid sub-orders, newest first, as the queue page: status, method,
        amounts, the customer and the actions allowed now. Filters: `status`
        (repeatable), `fulfilment`, `since` (placed at or after; poll with the time
        of the last call to see new orders).
        """
        shop = staff_shop(shop_id)
        query = (
            select(SubOrder)
            .join(SubOrder.order)
            .where(SubOrder.shop_id == shop.id, Order.paid_at.is_not(None))
            .options(selectinload(SubOrder.lines), joinedload(SubOrder.order))
        )
        if args.get("status"):
            query = query.where(SubOrder.status.in_(args["status"]))
        if "fulfilment" in args:
            query = query.where(SubOrder.fulfilment_method == args["fulfilment"])
        if "since" in args:
            query = query.where(SubOrder.created_at >= args["since"])
        query = query.order_by(SubOrder.created_at.desc(), SubOrder.id.desc())
        return paginate(query, pagination_parameters)


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>")
class QueueItem(MethodView):
    @authenticated
    @blp.response(200, StaffSubOrderSchema)
    def get(self, shop_id: int, sub_order_id: int) -> Any:
        """Get a sub-order of the queue

        Its lines (with their ids, to refund one), history, customer contact,
        refunded and still refundable amounts. The pickup code is never sent: the
        resident shows it at handover.
        """
        return _sub(shop_id, sub_order_id)


def _act(shop_id: int, sub_order_id: int, action: Any, *args: Any) -> SubOrder:
    sub = _sub(shop_id, sub_order_id)
    try:
        action(sub, api_user(), *args)
    except order_ops.NotAllowed:
        db.session.rollback()
        fail(NotFound, _("Commande introuvable."))
    except TransitionError:
        _not_now(sub)
    db.session.commit()
    return _fresh(sub)


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/accept")
class Accept(MethodView):
    @authenticated
    @blp.response(200, StaffSubOrderSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, shop_id: int, sub_order_id: int) -> Any:
        """Accept a sub-order

        From paid only; 409 otherwise (another member of staff may have acted).
        """
        return _act(shop_id, sub_order_id, order_ops.accept)


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/refuse")
class Refuse(MethodView):
    @authenticated
    @blp.arguments(RefuseArgsSchema)
    @blp.response(200, StaffSubOrderSchema)
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(502, "BAD_GATEWAY")
    def post(self, args: Mapping[str, Any], shop_id: int, sub_order_id: int) -> Any:
        """Refuse a sub-order

        Paid, accepted or preparing: refused with the reason, and the resident is
        refunded at once. 502 when the bank refuses the refund (the sub-order stays
        refused, the refund is retried).
        """
        reason = args["reason"].strip()
        if not reason:
            field_error("reason", _("Indiquez la raison du refus : le client la recevra."))
        try:
            return _act(shop_id, sub_order_id, order_ops.refuse, reason)
        except refund_ops.RefundFailed:
            db.session.commit()  # the failed refund stays on record; it is retried
            fail(BadGateway, _("Le remboursement a échoué auprès de la banque ; réessayez."))


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/preparing")
class Preparing(MethodView):
    @authenticated
    @blp.response(200, StaffSubOrderSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, shop_id: int, sub_order_id: int) -> Any:
        """Start preparing a sub-order

        From accepted only.
        """
        return _act(shop_id, sub_order_id, order_ops.start_preparing)


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/ready")
class Ready(MethodView):
    @authenticated
    @blp.response(200, StaffSubOrderSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, shop_id: int, sub_order_id: int) -> Any:
        """Mark a sub-order ready

        From accepted or preparing; the resident is notified.
        """
        return _act(shop_id, sub_order_id, order_ops.mark_ready)


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/handover")
class HandOver(MethodView):
    @authenticated
    @blp.arguments(HandOverArgsSchema)
    @blp.response(200, StaffSubOrderSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, args: Mapping[str, Any], shop_id: int, sub_order_id: int) -> Any:
        """Hand a sub-order over

        From ready, after checking the pickup code the resident shows: a wrong code
        changes nothing (422 naming `pickup_code`).
        """
        try:
            return _act(shop_id, sub_order_id, order_ops.hand_over, args["pickup_code"])
        except order_ops.WrongPickupCode:
            db.session.rollback()
            field_error(
                "pickup_code", _("Code de retrait incorrect : la commande n'est pas remise.")
            )


@blp.route("/shops/<int:shop_id>/orders/<int:sub_order_id>/refunds")
class Refunds(MethodView):
    @authenticated
    @blp.arguments(StaffRefundArgsSchema)
    @blp.response(201, StaffRefundSchema)
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(502, "BAD_GATEWAY")
    def post(self, args: Mapping[str, Any], shop_id: int, sub_order_id: int) -> Any:
        """Refund part of a sub-order

        A line (`line_id`, `quantity` of it, default 1: a product out of stock) or
        an amount in cents, within what remains; through the card payment, booked
        in the ledger. 422 naming the field when it cannot be refunded, 502 when the
        bank refuses.
        """
        sub = _sub(shop_id, sub_order_id)
        reason = args["reason"].strip()
        try:
            if "line_id" in args:
                lines = {args["line_id"]: args.get("quantity", 1)}
                row = refund_ops.refund_by_shop(sub, api_user(), lines=lines, reason=reason)
            else:
                row = refund_ops.refund_by_shop(
                    sub, api_user(), amount_cents=args["amount_cents"], reason=reason
                )
        except refund_ops.NotAllowed:
            db.session.rollback()
            fail(NotFound, _("Commande introuvable."))
        except TransitionError:
            _not_now(sub)
        except refund_ops.RefundError as exc:
            db.session.rollback()
            field_error(REFUND_FIELDS.get(exc.field, exc.field), exc.message)
        except refund_ops.RefundFailed:
            db.session.commit()  # the failed refund stays on record
            fail(BadGateway, _("Le remboursement a échoué auprès de la banque ; réessayez."))
        db.session.commit()
        return {
            "id": row.id,
            "amount_cents": row.amount_cents,
            "status": row.status,
            "reason": row.reason,
            "created_at": row.created_at,
            "sub_order": _fresh(sub),
        }


__all__ = ["blp"]
