"""Carriers' status updates for the parcels they carry (POST, one event a call).

Each call is signed with the carrier's own secret (`CARRIER_<KEY>_SECRET`): the
`X-Carrier-Signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">`, accepted within five minutes of our clock. Unknown carrier, or
missing, wrong or expired signature → 401 (checked before the body is read);
body over 64 KiB → 413 (unread); malformed body → 422 naming the field; unknown
tracking number → 404. Each event id is applied once (a replay answers 200 with
`duplicate: true`), and out of order: news older than the parcel's current status,
or after delivered/returned, is kept in its history and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates
from werkzeug.exceptions import NotFound, Unauthorized

from marketplace.api_common import fail
from marketplace.extensions import api, csrf, db
from marketplace.models import utcnow

from .models import ShipmentStatus
from .operations import shipments

F = TypeVar("F", bound=Callable[..., Any])

# An event is a few hundred bytes: more is refused (413) before the signature is
# computed over it.
MAX_EVENT_BYTES = 64 * 1024
SIGNATURE_HEADER = "X-Carrier-Signature"
SIGNATURE_SCHEME = "carrierSignature"
SIGNED: list[dict[str, list[str]]] = [{SIGNATURE_SCHEME: []}]

blp = Blueprint(
    "carrier_api",
    __name__,
    url_prefix="/api/v1/carriers",
    description="Carriers: signed status updates of the parcels they carry",
)
csrf.exempt(blp)  # signed by the carrier, no cookie: CSRF does not apply


def _document_scheme(app: Flask) -> None:
    if app.extensions.get("carrier_api"):
        return
    app.extensions["carrier_api"] = True
    api.spec.components.security_scheme(
        SIGNATURE_SCHEME,
        {
            "type": "apiKey",
            "in": "header",
            "name": SIGNATURE_HEADER,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' "
            "with the carrier's secret>; five minutes of tolerance.",
        },
    )


blp.record_once(lambda state: _document_scheme(state.app))


@blp.before_request
def _limit_event_size() -> None:
    request.max_content_length = MAX_EVENT_BYTES


class CarrierEventSchema(Schema):
    event_id = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The carrier's id of this event: applied once"},
    )
    tracking_number = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    status = fields.Str(
        required=True, validate=validate.OneOf([s.value for s in shipments.CARRIER_STATUSES])
    )
    occurred_at = fields.AwareDateTime(
        required=True, metadata={"description": "When it happened, with its UTC offset"}
    )
    description = fields.Str(load_default="", validate=validate.Length(max=300))
    location = fields.Str(load_default="", validate=validate.Length(max=100))

    @validates("occurred_at")
    def _not_in_the_future(self, value: datetime, **_kwargs: Any) -> None:
        if value > utcnow() + shipments.SIGNATURE_TOLERANCE:
            raise ValidationError("In the future: the time the event happened is expected.")


class ShipmentStateSchema(Schema):
    carrier = fields.Function(lambda u: u.shipment.carrier, required=True)
    tracking_number = fields.Function(lambda u: u.shipment.tracking_number, required=True)
    status = fields.Function(lambda u: u.shipment.status.value, required=True)
    status_at = fields.Function(
        lambda u: u.shipment.status_at.isoformat() if u.shipment.status_at else None,
        allow_none=True,
    )
    duplicate = fields.Bool(
        required=True, metadata={"description": "This event id was received before"}
    )
    applied = fields.Bool(
        required=True,
        metadata={"description": "The event changed the parcel's status (false when late)"},
    )


def signed(view: F) -> F:
    """A known carrier signed the raw body, else 401 (before the body is read)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        carrier = kwargs.get("carrier", "")
        if carrier not in shipments.CARRIERS or carrier == "other":
            fail(Unauthorized, "Unknown carrier: nobody can sign for it.")
        try:
            shipments.verify_signature(
                carrier, request.headers.get(SIGNATURE_HEADER), request.get_data(), utcnow()
            )
        except shipments.BadSignature as exc:
            fail(Unauthorized, exc.message)
        return view(*args, **kwargs)

    wrapped = blp.doc(security=SIGNED)(checked)
    wrapped = blp.alt_response(404, "NOT_FOUND")(wrapped)
    wrapped = blp.alt_response(413, "REQUEST_ENTITY_TOO_LARGE")(wrapped)
    return blp.alt_response(401, "UNAUTHORIZED")(wrapped)


@blp.route("/<carrier>/events")
class CarrierEvents(MethodView):
    @signed
    @blp.arguments(CarrierEventSchema)
    @blp.response(200, ShipmentStateSchema)
    def post(self, args: dict[str, Any], carrier: str) -> Any:
        """A parcel's status update (in_transit, out_for_delivery, delivered, failed,
        returned), signed by the carrier."""
        try:
            update = shipments.record_carrier_event(
                carrier,
                args["event_id"],
                args["tracking_number"],
                ShipmentStatus(args["status"]),
                args["occurred_at"],
                description=args["description"],
                location=args["location"],
            )
        except shipments.UnknownShipment:
            db.session.rollback()
            raise NotFound("No parcel of this carrier has this tracking number.") from None
        db.session.commit()
        return update
