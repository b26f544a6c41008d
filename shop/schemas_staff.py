"""marshmallow schemas of the shop staff's order queue API (shop/api_staff.py).

Money in integer cents TTC, times ISO 8601 in UTC. The pickup code is never sent to
the shop: the resident shows it at handover and the shop types it in.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from marketplace.models import FulfilmentMethod

from .models import SubOrder, SubOrderStatus
from .operations import orders as order_ops
from .operations import refunds as refund_ops
from .schemas import ComputedInteger, ComputedList, ComputedNested, UTCDateTime

ACTIONS = {
    "accept": order_ops.ACCEPTABLE,
    "refuse": order_ops.REFUSABLE,
    "preparing": order_ops.PREPARABLE,
    "ready": order_ops.READYABLE,
    "handover": order_ops.HANDOVERABLE,
    "refund": refund_ops.REFUNDABLE,
}


def _enum(enum_cls: Any, **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, **kwargs)


def _refunded(sub: SubOrder) -> int:
    return refund_ops.refunded_cents(sub)


def _refundable(sub: SubOrder) -> int:
    return refund_ops.refundable_cents(sub) if sub.status in refund_ops.REFUNDABLE else 0


# -- Query strings and bodies -------------------------------------------------------------


class StaffSubOrderQueryArgsSchema(Schema):
    status = fields.List(
        _enum(SubOrderStatus),
        metadata={"description": "Only these statuses (repeat the parameter for several)"},
    )
    fulfilment = _enum(FulfilmentMethod, metadata={"description": "Only this fulfilment method"})
    since = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "Placed at or after this time (ISO 8601; UTC without an offset)"},
    )


class RefuseArgsSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=300),
        metadata={"description": "Why: the resident receives it with the refund"},
    )


class HandOverArgsSchema(Schema):
    pickup_code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "The code the resident shows at the counter"},
    )


class StaffRefundArgsSchema(Schema):
    line_id = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "An order line to refund (see `lines[].id`)"},
    )
    quantity = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=999),
        metadata={"description": "With line_id: how many of it (default 1)"},
    )
    amount_cents = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "Or an amount in cents, spread over what remains"},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=300))

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("line_id" in data) == ("amount_cents" in data):
            raise ValidationError(
                _("Indiquez un montant ou une ligne à rembourser."), "amount_cents"
            )
        if "quantity" in data and "line_id" not in data:
            raise ValidationError(
                _("Choisissez une ligne et une quantité (nombre entier)."), "line_id"
            )


# -- Responses ------------------------------------------------------------------------------


class StaffOrderLineSchema(Schema):
    id = fields.Integer()
    variant_id = fields.Integer(allow_none=True)
    product_name = fields.String()
    variant_label = fields.String()
    sku = fields.String()
    unit_price_cents = fields.Integer()
    vat_rate_bp = fields.Integer()
    quantity = fields.Integer()
    total_cents = fields.Integer()


class StaffSubOrderEventSchema(Schema):
    from_status = _enum(SubOrderStatus, allow_none=True)
    to_status = _enum(SubOrderStatus)
    actor_kind = fields.String(metadata={"description": "shop, resident or system"})
    note = fields.String()
    at = UTCDateTime()


class StaffCustomerSchema(Schema):
    name = fields.String(attribute="contact_name")
    email = fields.String(attribute="contact_email")
    phone = fields.String(attribute="contact_phone")


class StaffSubOrderSummarySchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    shop_id = fields.Integer()
    status = _enum(SubOrderStatus)
    fulfilment_method = _enum(FulfilmentMethod)
    items_cents = fields.Integer()
    delivery_fee_cents = fields.Integer()
    total_cents = fields.Integer()
    created_at = UTCDateTime()
    paid_at = UTCDateTime(attribute="order.paid_at", allow_none=True)
    ready_not_before = UTCDateTime(allow_none=True)
    customer = ComputedNested(lambda sub: sub.order, StaffCustomerSchema)
    item_count = ComputedInteger(lambda sub: sum(line.quantity for line in sub.lines))
    actions = ComputedList(
        lambda sub: [name for name, allowed in ACTIONS.items() if sub.status in allowed],
        fields.String(validate=validate.OneOf(list(ACTIONS))),
        metadata={"description": "What the shop may do now: POST …/orders/{id}/<action>"},
    )


class StaffSubOrderSchema(StaffSubOrderSummarySchema):
    lines = fields.List(fields.Nested(StaffOrderLineSchema))
    history = fields.List(fields.Nested(StaffSubOrderEventSchema))
    refunded_cents = ComputedInteger(_refunded)
    refundable_cents = ComputedInteger(
        _refundable, metadata={"description": "What may still be refunded"}
    )


class StaffRefundSchema(Schema):
    id = fields.Integer()
    amount_cents = fields.Integer()
    status = fields.String(metadata={"description": "pending, succeeded or failed"})
    reason = fields.String()
    created_at = UTCDateTime()
    sub_order = fields.Nested(
        StaffSubOrderSchema, metadata={"description": "The sub-order after the refund"}
    )
