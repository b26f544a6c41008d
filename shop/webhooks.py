"""Stripe webhook endpoint: signature verified, each event id applied once."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import csrf, db
from marketplace.payments import PaymentError, gateway

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


CARD_FIELDS = {"number": 16, "exp_month": 2, "exp_year": 4, "cvc": 3}


@bp.post("/test/carte")
@login_required
def local_test_card() -> ResponseReturnValue:
    """Local test mode only: turn a test card into a PaymentMethod on localstripe."""
    if not current_app.config.get("STRIPE_LOCAL"):
        abort(404)
    card = request.get_json(silent=True) or {}
    errors = {
        name: [f"{size} chiffres au plus attendus."]
        for name, size in CARD_FIELDS.items()
        if not str(card.get(name, "")).isdigit() or len(str(card.get(name))) > size
    }
    if errors:
        return jsonify(
            code=422,
            status="Unprocessable Entity",
            message="Carte invalide.",
            errors={"json": errors},
        ), 422
    try:
        method_id = gateway().create_test_card_method({k: str(card[k]) for k in CARD_FIELDS})
    except PaymentError as exc:
        return jsonify(error={"message": str(exc)}), 402
    return jsonify(paymentMethod={"id": method_id})
