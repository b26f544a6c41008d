"""Standard parcels: a shipment per sub-order, with its carrier, tracking number and
weight, created by the shop when the parcel is ready, shipped when handed to the
carrier, then followed through the carrier's signed status events.

    label_created → shipped → in_transit → out_for_delivery → delivered
                                                             ↘ failed (an attempt) → …
                                                             ↘ returned (to the shop)

Carrier events are applied once per event id and out of order: an event older than
the one behind the current status, or any event after delivered or returned, is
recorded in the parcel's history but changes nothing. Each status change is
announced by `shipment_status_changed` (sender: the Shipment; kwargs: status, note),
which the shop side (`shop/operations/parcels.py`) turns into sub-order transitions;
the sub-order belongs to the shop domain, above this one, and is never imported.

Each carrier signs its events with its own secret, `CARRIER_<KEY>_SECRET` in the
configuration or the environment (`CARRIER_COLISSIMO_SECRET`…): see `verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from blinker import Namespace
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import User, utcnow

from ..models import Shipment, ShipmentEvent, ShipmentStatus
from .config import translate as _

log = logging.getLogger(__name__)

_signals = Namespace()
# sender: the Shipment; kwargs: status (ShipmentStatus), note (the carrier's words).
shipment_status_changed = _signals.signal("shipment-status-changed")

SS = ShipmentStatus
# Statuses a carrier may report, and those after which nothing changes any more.
CARRIER_STATUSES = (SS.IN_TRANSIT, SS.OUT_FOR_DELIVERY, SS.DELIVERED, SS.FAILED, SS.RETURNED)
FINAL = (SS.DELIVERED, SS.RETURNED)
SIGNATURE_TOLERANCE = timedelta(minutes=5)
MAX_TRACKING = 40


@dataclass(frozen=True)
class Carrier:
    key: str
    name: Any  # str or a lazy string
    # The tracking number's format when known (on the normalised number).
    pattern: re.Pattern[str] | None
    example: str
    # The carrier's public tracking page, `{number}` replaced.
    url_template: str | None


STATUS_LABELS = {
    SS.LABEL_CREATED: _l("Étiquette créée"),
    SS.SHIPPED: _l("Remis au transporteur"),
    SS.IN_TRANSIT: _l("En transit"),
    SS.OUT_FOR_DELIVERY: _l("En cours de livraison"),
    SS.DELIVERED: _l("Livré"),
    SS.FAILED: _l("Tentative de livraison échouée"),
    SS.RETURNED: _l("Retourné à la boutique"),
}


# S10, the Universal Postal Union's format (two letters, nine digits, the country).
_S10 = r"[A-Z]{2}[0-9]{9}[A-Z]{2}"
CARRIERS: dict[str, Carrier] = {
    c.key: c
    for c in (
        Carrier(
            "colissimo",
            "Colissimo",
            re.compile(rf"(?:[0-9][A-Z][0-9]{{11}}|{_S10})"),
            "6A12345678901",
            "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
        ),
        Carrier(
            "mondial_relay",
            "Mondial Relay",
            re.compile(r"[0-9]{8}(?:[0-9]{2}){0,2}"),
            "12345678",
            "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition={number}",
        ),
        Carrier(
            "chronopost",
            "Chronopost",
            re.compile(_S10),
            "XY123456789FR",
            "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={number}",
        ),
        Carrier("other", _l("Autre transporteur"), None, "", None),
    )
}


class ShipmentError(ValueError):
    """A shop's step refused; nothing changed. Names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownShipment(LookupError):
    """No shipment of this carrier has this tracking number."""


# --- carriers and tracking numbers ---------------------------------------------------


def carrier_name(key: str) -> str:
    carrier = CARRIERS.get(key)
    return str(carrier.name) if carrier is not None else key


def normalise_tracking(text: str) -> str:
    """Spaces and dashes people type are dropped; letters upper-cased."""
    return re.sub(r"[\s\-]", "", text or "").upper()


def check_tracking(carrier_key: str, text: str) -> str:
    """The normalised tracking number, or ShipmentError naming the field."""
    carrier = CARRIERS.get(carrier_key)
    if carrier is None:
        raise ShipmentError("carrier", _("Choisissez un transporteur de la liste."))
    number = normalise_tracking(text)
    if not number:
        raise ShipmentError("tracking_number", _("Saisissez le numéro de suivi du colis."))
    if len(number) > MAX_TRACKING or not number.isalnum() or not number.isascii():
        raise ShipmentError(
            "tracking_number",
            _("Numéro de suivi invalide : lettres et chiffres, 40 caractères au plus."),
        )
    if carrier.pattern is not None and not carrier.pattern.fullmatch(number):
        raise ShipmentError(
            "tracking_number",
            _(
                "Ce n'est pas un numéro de suivi %(carrier)s (par exemple %(example)s).",
                carrier=str(carrier.name),
                example=carrier.example,
            ),
        )
    return number


def tracking_url(shipment: Shipment) -> str | None:
    carrier = CARRIERS.get(shipment.carrier)
    if carrier is None or carrier.url_template is None:
        return None
    return carrier.url_template.format(number=quote(shipment.tracking_number, safe=""))


# --- reading -------------------------------------------------------------------------


def shipment_for_sub_order(sub_order_id: int, lock: bool = False) -> Shipment | None:
    """The sub-order's current shipment (the latest: a returned parcel may be re-sent),
    its row locked for the transaction when asked."""
    query = (
        select(Shipment)
        .where(Shipment.sub_order_id == sub_order_id)
        .order_by(Shipment.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def shipments_by_sub_order(sub_order_ids: list[int]) -> dict[int, Shipment]:
    """The latest shipment of each sub-order, events loaded: two queries in all."""
    if not sub_order_ids:
        return {}
    latest: dict[int, Shipment] = {}
    for found in db.session.scalars(
        select(Shipment)
        .where(Shipment.sub_order_id.in_(sub_order_ids))
        .options(selectinload(Shipment.events))
        .order_by(Shipment.id)
    ):
        latest[found.sub_order_id] = found
    return latest


def _event(
    shipment: Shipment,
    status: ShipmentStatus,
    occurred_at: datetime,
    actor: User | None = None,
    external_id: str | None = None,
    description: str = "",
    location: str = "",
) -> ShipmentEvent:
    row = ShipmentEvent(
        shipment_id=shipment.id,
        carrier=shipment.carrier,
        external_id=external_id,
        status=status,
        occurred_at=occurred_at,
        received_at=utcnow(),
        description=description[:300],
        location=location[:100],
        actor_id=actor.id if actor is not None else None,
    )
    db.session.add(row)
    return row


# --- the shop's steps ----------------------------------------------------------------


def create_shipment(
    sub: Any, carrier_key: str, tracking_number: str, weight_grams: int, actor: User | None
) -> Shipment:
    """The parcel of a sub-order (any object with its id, reference and shop_id).

    A shipment not handed to the carrier yet is corrected in place (a mistyped
    number); one already shipped and not returned cannot be replaced.
    """
    number = check_tracking(carrier_key, tracking_number)
    current = shipment_for_sub_order(sub.id)
    if current is not None and current.status not in (SS.LABEL_CREATED, SS.RETURNED):
        raise ShipmentError("tracking_number", _("Ce colis est déjà parti."))
    taken = db.session.scalar(
        select(Shipment.id).where(
            Shipment.carrier == carrier_key, Shipment.tracking_number == number
        )
    )
    # A correction may keep its own number; a returned parcel sent again needs a new one.
    correcting = current is not None and current.status is SS.LABEL_CREATED
    if taken is not None and not (correcting and current is not None and taken == current.id):
        raise ShipmentError(
            "tracking_number", _("Ce numéro de suivi est déjà celui d'un autre colis.")
        )
    now = utcnow()
    if correcting and current is not None:
        shipment = current
        shipment.carrier = carrier_key
        shipment.tracking_number = number
        shipment.weight_grams = weight_grams
    else:
        shipment = Shipment(
            sub_order_id=sub.id,
            reference=sub.reference,
            shop_id=sub.shop_id,
            carrier=carrier_key,
            tracking_number=number,
            weight_grams=weight_grams,
            status=SS.LABEL_CREATED,
            status_at=now,
            created_by_id=actor.id if actor is not None else None,
        )
        db.session.add(shipment)
    db.session.flush()
    _event(shipment, SS.LABEL_CREATED, now, actor)
    db.session.flush()
    return shipment


def mark_shipped(shipment: Shipment, actor: User | None) -> None:
    """The shop handed the parcel to the carrier."""
    if shipment.status is not SS.LABEL_CREATED:
        raise ShipmentError("shipment", _("Ce colis est déjà parti."))
    now = utcnow()
    shipment.status = SS.SHIPPED
    shipment.status_at = now
    shipment.shipped_at = now
    _event(shipment, SS.SHIPPED, now, actor)
    db.session.flush()


# --- the carrier's events ------------------------------------------------------------


def carrier_secret(carrier_key: str) -> str | None:
    name = f"CARRIER_{carrier_key.upper()}_SECRET"
    secret = current_app.config.get(name) or os.environ.get(name)
    return str(secret) if secret else None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256>` of
    `<timestamp>.<raw body>` with the carrier's secret (Stripe's scheme)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class BadSignature(ValueError):
    """Missing, malformed, wrong or expired signature; `message` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def verify_signature(carrier_key: str, header: str | None, body: bytes, now: datetime) -> None:
    secret = carrier_secret(carrier_key)
    if secret is None:
        raise BadSignature("No secret is configured for this carrier.")
    parts = dict(item.split("=", 1) for item in (header or "").split(",") if item.count("=") == 1)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    # isascii: "²".isdigit() is true but int() refuses it; 12 digits reach year 33658.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or not given:
        raise BadSignature("Signature header expected: t=<unix time>,v1=<hex HMAC-SHA256>.")
    expected = sign(secret, int(stamp), body).split("v1=", 1)[1]
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadSignature("Wrong signature.")
    if abs(now.timestamp() - int(stamp)) > SIGNATURE_TOLERANCE.total_seconds():
        raise BadSignature("Signature timestamp too old or in the future.")


@dataclass(frozen=True)
class CarrierUpdate:
    shipment: Shipment
    duplicate: bool  # this event id was received before: nothing done
    applied: bool  # the event changed the shipment's status


def record_carrier_event(
    carrier_key: str,
    event_id: str,
    tracking_number: str,
    status: ShipmentStatus,
    occurred_at: datetime,
    description: str = "",
    location: str = "",
) -> CarrierUpdate:
    """One signed carrier event: recorded once per event id, then applied when it is
    the newest news of a parcel still on its way. UnknownShipment when no parcel of
    this carrier has the number."""
    number = normalise_tracking(tracking_number)
    shipment = db.session.scalar(
        select(Shipment)
        .where(Shipment.carrier == carrier_key, Shipment.tracking_number == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if shipment is None:
        raise UnknownShipment(number)

    def seen() -> bool:
        return (
            db.session.scalar(
                select(ShipmentEvent.id).where(
                    ShipmentEvent.carrier == carrier_key, ShipmentEvent.external_id == event_id
                )
            )
            is not None
        )

    if seen():
        return CarrierUpdate(shipment, duplicate=True, applied=False)
    try:
        with db.session.begin_nested():
            _event(
                shipment,
                status,
                occurred_at,
                external_id=event_id,
                description=description,
                location=location,
            )
    except IntegrityError:  # the same event, received twice at once
        return CarrierUpdate(shipment, duplicate=True, applied=False)
    # The shop's own steps are on its clock: any carrier news comes after them.
    late = (
        shipment.status not in (SS.LABEL_CREATED, SS.SHIPPED)
        and shipment.status_at is not None
        and occurred_at < shipment.status_at
    )
    if shipment.status in FINAL or late:
        why = "after " + shipment.status.value if shipment.status in FINAL else "late"
        log.info("shipment %s: %s event ignored (%s)", shipment.id, status.value, why)
        db.session.flush()
        return CarrierUpdate(shipment, duplicate=False, applied=False)
    shipment.status = status
    shipment.status_at = occurred_at
    if shipment.shipped_at is None:
        shipment.shipped_at = occurred_at
    db.session.flush()
    shipment_status_changed.send(shipment, status=status, note=description)
    return CarrierUpdate(shipment, duplicate=False, applied=True)
