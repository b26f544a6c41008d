"""Joining: a shop signs up (or accepts the collectivité's invitation), waits for
approval; the collectivité approves or refuses it. Add and flush, never commit."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from stdnum.fr import siret as siret_number

from marketplace.extensions import db
from marketplace.geo import GeoPoint, commune_point, distance_km, locate
from marketplace.mail import public_url, queue_mail
from marketplace.models import Commune, Role, User, UserRole, utcnow
from marketplace.operations import FieldError
from marketplace.territory import slugify

from ..models import Shop, ShopStaff, ShopStatus, StaffRole, Trade
from ..models.onboarding import ShopInvitation

log = logging.getLogger(__name__)

SHOP_INVITATION_DAYS = 14
# A pin moved further than this from its commune's reference point is a mistake.
MAX_PIN_DISTANCE_KM = 25.0
PHONE = re.compile(r"^(?:\+33|0033|0)([1-9]\d{8})$")


@dataclass
class ShopDetails:
    """Sign-up input that passed every rule."""

    name: str
    siret: str
    trade: Trade
    street: str
    postcode: str
    commune: Commune
    phone: str
    email: str
    latitude: float | None = None
    longitude: float | None = None


def clean_siret(value: str) -> str:
    """The SIRET's 14 digits; FieldError on `siret` when it is not a valid one."""
    number = siret_number.compact(value or "")
    if not siret_number.is_valid(number):
        raise FieldError(
            {
                "siret": _(
                    "Numéro SIRET non valide : saisissez les 14 chiffres du SIRET de la "
                    "boutique (sur l'avis de situation Insee ou l'extrait Kbis)."
                )
            }
        )
    return str(number)


def clean_phone(value: str) -> str:
    """A French phone number as ten digits ("0553..."), or FieldError on `phone`."""
    compact = re.sub(r"[\s.\-()]", "", value or "")
    match = PHONE.match(compact)
    if not match:
        raise FieldError(
            {
                "phone": _(
                    "Numéro de téléphone non valide : dix chiffres, par exemple 05 53 00 00 00."
                )
            }
        )
    return "0" + match.group(1)


def check_pin(commune: Commune, latitude: float, longitude: float, field: str = "latitude") -> None:
    """Refuse a pin placed far from the shop's commune."""
    if distance_km(commune.latitude, commune.longitude, latitude, longitude) > MAX_PIN_DISTANCE_KM:
        raise FieldError(
            {
                field: _(
                    "Ce point est à plus de %(km)d km de %(commune)s : vérifiez la latitude "
                    "et la longitude.",
                    km=int(MAX_PIN_DISTANCE_KM),
                    commune=commune.name,
                )
            }
        )


def territory_communes() -> list[Commune]:
    return list(db.session.scalars(select(Commune).order_by(Commune.name)))


def trades() -> list[Trade]:
    return list(db.session.scalars(select(Trade).order_by(Trade.name_fr)))


def check_shop_details(
    *,
    name: str,
    siret: str,
    trade_id: int | None,
    street: str,
    postcode: str,
    commune_id: int | None,
    phone: str,
    email: str,
    latitude: float | None = None,
    longitude: float | None = None,
) -> ShopDetails:
    """Every sign-up rule at once; FieldError names each field that is wrong."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for field, check, value in (("siret", clean_siret, siret), ("phone", clean_phone, phone)):
        try:
            clean[field] = check(value)
        except FieldError as error:
            errors.update(error.errors)
    if "siret" in clean and db.session.scalar(
        select(Shop.id).where(Shop.siret == clean["siret"], Shop.status != ShopStatus.REFUSED)
    ):
        errors["siret"] = _("Une boutique avec ce numéro SIRET est déjà inscrite sur Comptoir.")
    trade = db.session.get(Trade, trade_id) if trade_id else None
    if trade is None:
        errors["trade_id"] = _("Choisissez l'activité de la boutique dans la liste.")
    commune = db.session.get(Commune, commune_id) if commune_id else None
    if commune is None:
        errors["commune_id"] = _("Choisissez une commune du territoire dans la liste.")
    elif commune.postcodes and postcode not in commune.postcodes:
        errors["postcode"] = _(
            "Ce code postal n'est pas celui de %(commune)s (%(codes)s).",
            commune=commune.name,
            codes=", ".join(commune.postcodes),
        )
    if (latitude is None) != (longitude is None):
        errors["latitude"] = _("Indiquez la latitude et la longitude, ou aucune des deux.")
    elif commune is not None and latitude is not None and longitude is not None:
        try:
            check_pin(commune, latitude, longitude)
        except FieldError as error:
            errors.update(error.errors)
    if errors:
        raise FieldError(errors)
    assert trade is not None and commune is not None
    return ShopDetails(
        name=name.strip(),
        siret=clean["siret"],
        trade=trade,
        street=street.strip(),
        postcode=postcode.strip(),
        commune=commune,
        phone=clean["phone"],
        email=email.strip().lower(),
        latitude=latitude,
        longitude=longitude,
    )


def unique_slug(name: str, commune: Commune) -> str:
    """A slug for the shop's public address, made unique with its commune or a number."""
    base = (slugify(name) or "boutique")[:100]
    taken = set(db.session.scalars(select(Shop.slug).where(Shop.slug.like(f"{base}%"))))
    candidates = [base, f"{base}-{commune.slug}"[:120]]
    candidates += [f"{base}-{n}" for n in range(2, len(taken) + 3)]
    return next(c for c in candidates if c not in taken)


def grant_role(user: User, role: Role) -> None:
    if not user.has_role(role):
        user.roles.append(UserRole(role=role))


def register_shop(
    owner: User, details: ShopDetails, invitation: ShopInvitation | None = None
) -> tuple[Shop, GeoPoint]:
    """Create the shop, PENDING approval, with `owner` as its OWNER (and merchant).

    The address is geocoded unless the pin was given; when it cannot be found the
    commune's reference point is used and the returned point says it is approximate.
    """
    if details.latitude is not None and details.longitude is not None:
        point = GeoPoint(details.latitude, details.longitude, approximate=False)
    else:
        point = locate(details.street, details.postcode, details.commune)
    shop = Shop(
        territory_id=details.commune.territory_id,
        commune=details.commune,
        trade=details.trade,
        slug=unique_slug(details.name, details.commune),
        name=details.name,
        siret=details.siret,
        status=ShopStatus.PENDING,
        street=details.street,
        postcode=details.postcode,
        latitude=point.latitude,
        longitude=point.longitude,
        phone=details.phone,
        email=details.email,
        fulfilment_methods=["click_and_collect"],
    )
    db.session.add(shop)
    shop.staff.append(ShopStaff(user=owner, role=StaffRole.OWNER))
    grant_role(owner, Role.MERCHANT)
    if invitation is not None:
        invitation.accepted_at = utcnow()
        invitation.shop = shop
    db.session.flush()
    log.info("shop %s signed up by user %s (pending approval)", shop.id, owner.id)
    return shop, point


def move_pin(shop: Shop, latitude: float, longitude: float) -> None:
    """Place the shop's pin where the merchant says, near its commune."""
    check_pin(shop.commune, latitude, longitude)
    shop.latitude, shop.longitude = latitude, longitude
    db.session.flush()


def pin_is_commune_point(shop: Shop) -> bool:
    """True while the pin is still the commune's reference point (approximate)."""
    point = commune_point(shop.commune)
    return (shop.latitude, shop.longitude) == (point.latitude, point.longitude)


# The collectivité's invitations -------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_shop_invitation(
    *, email: str, shop_name: str = "", invited_by: User | None = None
) -> tuple[ShopInvitation, str]:
    """Invite a shop by e-mail; returns the invitation and its token (mailed, not kept)."""
    token = secrets.token_urlsafe(32)
    invitation = ShopInvitation(
        email=email.strip().lower(),
        shop_name=shop_name.strip(),
        token_hash=_hash(token),
        expires_at=utcnow() + timedelta(days=SHOP_INVITATION_DAYS),
        invited_by_id=invited_by.id if invited_by else None,
    )
    db.session.add(invitation)
    db.session.flush()
    link = public_url("merchants.signup", invitation=token)
    context = {"invitation": invitation, "link": link, "days": SHOP_INVITATION_DAYS}
    with force_locale("fr"):
        subject = _("Votre boutique est invitée à rejoindre Comptoir")
        text = render_template("merchants/mail/shop_invitation.txt", **context)
    queue_mail(invitation.email, subject, text)
    log.info("shop invitation %s created", invitation.id)
    return invitation, token


def shop_invitation_for_token(token: str | None) -> ShopInvitation | None:
    """The invitation of a valid token: known, unused and unexpired; else None."""
    if not token or len(token) > 100:
        return None
    invitation = db.session.scalar(
        select(ShopInvitation).where(ShopInvitation.token_hash == _hash(token))
    )
    if invitation is None or invitation.accepted_at is not None:
        return None
    if invitation.expires_at <= utcnow():
        return None
    return invitation


def open_shop_invitations() -> list[ShopInvitation]:
    return list(
        db.session.scalars(
            select(ShopInvitation)
            .where(ShopInvitation.accepted_at.is_(None), ShopInvitation.expires_at > utcnow())
            .order_by(ShopInvitation.created_at.desc())
        )
    )


# Approval -------------------------------------------------------------------------


class NotPending(ValueError):
    """The shop was already approved or refused."""


def pending_shops() -> list[Shop]:
    return list(
        db.session.scalars(
            select(Shop)
            .where(Shop.status == ShopStatus.PENDING)
            .options(
                selectinload(Shop.commune),
                selectinload(Shop.trade),
                selectinload(Shop.staff).selectinload(ShopStaff.user),
            )
            .order_by(Shop.created_at, Shop.id)
        )
    )


def owners(shop: Shop) -> list[User]:
    return [s.user for s in shop.staff if s.role is StaffRole.OWNER]


def _mail_owners(shop: Shop, template: str, subject: Callable[[], str], **context: object) -> None:
    """Mail each owner in their language; `subject` is translated in it."""
    for user in owners(shop):
        with force_locale(user.locale or "fr"):
            text = render_template(template, shop=shop, user=user, **context)
            queue_mail(user.email, subject(), text)


def _locked_pending(shop_id: int) -> Shop | None:
    shop = db.session.scalar(select(Shop).where(Shop.id == shop_id).with_for_update())
    if shop is not None and shop.status is not ShopStatus.PENDING:
        raise NotPending(shop_id)
    return shop


def approve_shop(shop_id: int, by: User) -> Shop | None:
    """Make a pending shop visible and tell its owners; None if no such shop."""
    shop = _locked_pending(shop_id)
    if shop is None:
        return None
    shop.status = ShopStatus.APPROVED
    shop.approved_at = utcnow()
    shop.refusal_reason = None
    db.session.flush()
    _mail_owners(
        shop,
        "merchants/mail/shop_approved.txt",
        lambda: _("Votre boutique %(name)s est validée sur Comptoir", name=shop.name),
        link=public_url("merchants.home"),
    )
    log.info("shop %s approved by user %s", shop.id, by.id)
    return shop


def refuse_shop(shop_id: int, reason: str, by: User) -> Shop | None:
    """Refuse a pending shop with a reason mailed to its owners; None if no such shop."""
    reason = reason.strip()
    if not reason:
        raise FieldError({"reason": _("Indiquez le motif du refus : il est envoyé à la boutique.")})
    shop = _locked_pending(shop_id)
    if shop is None:
        return None
    shop.status = ShopStatus.REFUSED
    shop.refusal_reason = reason[:500]
    db.session.flush()
    _mail_owners(
        shop,
        "merchants/mail/shop_refused.txt",
        lambda: _("Votre boutique %(name)s n'a pas été validée sur Comptoir", name=shop.name),
        reason=shop.refusal_reason,
    )
    log.info("shop %s refused by user %s", shop.id, by.id)
    return shop
