"""Courier accounts: sign-up, the collectivité's decision, availability, position,
and what a courier earns (a flat amount per delivered job, from the territory's
settings: `Territory.settings["delivery"]["courier_job_cents"]`)."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Role, Territory, User, UserRole, utcnow

from ..models import Courier, CourierStatus, DeliveryJob, JobStatus, Vehicle
from .config import translate as _

log = logging.getLogger(__name__)

DEFAULT_JOB_CENTS = 450
MAX_CAPACITY_KG = 2000
_PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{7,18}[0-9]$")


class CourierError(ValueError):
    """A sign-up or a change refused; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def territory_setting(territory: Territory | None, name: str, default: int) -> int:
    """An integer courier setting of the territory's delivery settings, or `default`."""
    raw = ((territory.settings or {}) if territory is not None else {}).get("delivery")
    value = raw.get(name, default) if isinstance(raw, dict) else default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        if value is not default:
            log.warning("delivery setting %s=%r ignored", name, value)
        return default
    return value


def job_cents(territory: Territory | None) -> int:
    return territory_setting(territory, "courier_job_cents", DEFAULT_JOB_CENTS)


def courier_of(user: User | None) -> Courier | None:
    if user is None or not getattr(user, "id", None):
        return None
    return db.session.scalar(select(Courier).where(Courier.user_id == user.id))


def signup_territory(courier: Courier | None) -> Territory | None:
    """Where a courier signs up: the account's own territory, else the platform's
    first one (a deployment serves one collectivité)."""
    if courier is not None:
        return db.session.get(Territory, courier.territory_id)
    return db.session.scalar(select(Territory).order_by(Territory.id).limit(1))


def sign_up(
    user: User,
    vehicle: str,
    capacity_kg: str | int,
    phone: str,
    territory: Territory | None = None,
) -> Courier:
    """Ask to become a courier (or correct a pending or refused request), in
    `territory` or else the one `signup_territory` picks."""
    try:
        kind = Vehicle(vehicle)
    except ValueError:
        raise CourierError(_("Choisissez un moyen de transport."), "vehicle") from None
    try:
        capacity = int(str(capacity_kg).strip())
    except ValueError:
        raise CourierError(_("La capacité est un nombre entier de kilos."), "capacity_kg") from None
    if not 1 <= capacity <= MAX_CAPACITY_KG:
        raise CourierError(
            _("La capacité va de 1 à %(max)d kg.", max=MAX_CAPACITY_KG), "capacity_kg"
        )
    phone = phone.strip()
    if not _PHONE.match(phone):
        raise CourierError(_("Un numéro de téléphone, par exemple 06 12 34 56 78."), "phone")
    courier = courier_of(user)
    territory = territory or signup_territory(courier)
    if territory is None:
        raise CourierError(_("Aucun territoire n'accueille encore de livreurs."))
    if courier is None:
        courier = Courier(user_id=user.id, territory_id=territory.id)
        db.session.add(courier)
    elif courier.status is CourierStatus.APPROVED:
        # An approved courier updates vehicle and phone without a new approval.
        pass
    else:
        courier.status = CourierStatus.PENDING
        courier.decided_at = None
    courier.vehicle = kind
    courier.capacity_kg = capacity
    courier.phone = phone
    db.session.flush()
    return courier


def decide(courier: Courier, staff: User, approve: bool) -> None:
    """The collectivité approves (the user gets the courier role) or refuses."""
    courier.status = CourierStatus.APPROVED if approve else CourierStatus.REFUSED
    courier.decided_at = utcnow()
    courier.decided_by_id = staff.id
    user = db.session.get(User, courier.user_id)
    assert user is not None
    if approve and not user.has_role(Role.COURIER):
        user.roles.append(UserRole(role=Role.COURIER))
    if not approve:
        courier.available = False
        for held in [r for r in user.roles if r.role is Role.COURIER]:
            user.roles.remove(held)
    db.session.flush()


def approved_courier(user: User | None) -> Courier | None:
    courier = courier_of(user)
    return courier if courier is not None and courier.status is CourierStatus.APPROVED else None


def set_available(courier: Courier, available: bool) -> None:
    courier.available = available
    db.session.flush()


def parse_position(lat: str | float | None, lon: str | float | None) -> tuple[float, float]:
    try:
        latitude = float(str(lat).replace(",", "."))
        longitude = float(str(lon).replace(",", "."))
    except (TypeError, ValueError):
        raise CourierError(_("Position illisible : latitude et longitude en degrés.")) from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise CourierError(_("Position hors des limites de la Terre."))
    return latitude, longitude


def set_position(courier: Courier, latitude: float, longitude: float) -> None:
    courier.latitude = latitude
    courier.longitude = longitude
    courier.position_at = utcnow()
    db.session.flush()


def earnings_cents(courier: Courier, since: datetime | None = None) -> int:
    """What the courier earned on delivered jobs (since `since` when given)."""
    query = select(func.coalesce(func.sum(DeliveryJob.fee_cents), 0)).where(
        DeliveryJob.courier_id == courier.id, DeliveryJob.status == JobStatus.DELIVERED
    )
    if since is not None:
        query = query.where(DeliveryJob.finished_at >= since)
    return int(db.session.scalar(query) or 0)
