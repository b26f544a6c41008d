"""Marshmallow schemas of the Cityzens' JSON API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shop.schemas import ComputedBoolean, ComputedString, UTCDateTime

from .models import COMMENT_MAX


class RecommendationArgsSchema(Schema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    comment = fields.String(
        required=True,
        validate=validate.Length(min=1, max=COMMENT_MAX),
        metadata={"description": f"Why you recommend it, {COMMENT_MAX} characters at most"},
    )


class RecommendationSchema(Schema):
    id = fields.Integer()
    product_id = fields.Integer()
    product_name = ComputedString(lambda r: r.product.name)
    comment = fields.String()
    code = fields.String()
    share_url = fields.String(dump_only=True)
    withdrawn = ComputedBoolean(lambda r: r.withdrawn)
    hidden = ComputedBoolean(
        lambda r: r.hidden,
        metadata={"description": "Hidden by the collectivité: its link no longer works"},
    )
    hidden_reason = fields.String(
        allow_none=True, metadata={"description": "Why the collectivité hid it (null if shown)"}
    )
    created_at = UTCDateTime()
    updated_at = UTCDateTime()


class MovementSchema(Schema):
    at = UTCDateTime()
    kind = fields.String(metadata={"description": "reward, reward-reversal, or another kind"})
    description = fields.String()
    amount_cents = fields.Integer(metadata={"description": "Positive adds to the credit"})


class WalletSchema(Schema):
    credit_cents = fields.Integer(metadata={"description": "What may be spent, in cents"})
    movements = fields.List(fields.Nested(MovementSchema))
