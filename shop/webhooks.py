"""Stripe webhook endpoint: signature verified, each event id applied once."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import csrf, db
from marketplace.payments import gateway

from . import operations as ops

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/paiements")


@bp.post("/stripe/webhook")
@csrf.exempt  # authenticated by Stripe's signature instead
def stripe_webhook() -> ResponseReturnValue:
    try:
        event = gateway().parse_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
    except ValueError:
        log.warning("webhook with an invalid signature rejected")
        return jsonify(code=400, status="Bad Request", message="invalid signature"), 400
    try:
        outcome = ops.handle_stripe_event(event)
        db.session.commit()
    except IntegrityError:
        # The same event delivered twice at once: the other delivery applied it.
        db.session.rollback()
        outcome = "duplicate"
    log.info("stripe event %s: %s", event.get("type"), outcome)
    return jsonify(received=True, outcome=outcome)
