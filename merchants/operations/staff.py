"""A shop's team: the owner invites staff by e-mail, lists and removes them.

The invitation link carries a token signed with the app's secret, naming the
invitation and its nonce; accepting it sets accepted_at, so it works once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.mail import public_url, queue_mail
from marketplace.models import Role, User, utcnow
from marketplace.operations import FieldError
from marketplace.security import sign, unsign

from ..models import Shop, ShopStaff, StaffRole
from ..models.onboarding import StaffInvitation
from .onboarding import grant_role

log = logging.getLogger(__name__)

STAFF_INVITATION_SALT = "staff-invitation"
STAFF_INVITATION_DAYS = 7


class InvalidInvitation(ValueError):
    """The link is tampered with, expired, already used, or for someone else."""


class WrongAccount(InvalidInvitation):
    """A valid invitation, opened with an account of another e-mail address."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.email = email


class StaffError(ValueError):
    """A team change the rules refuse (e.g. removing the last owner)."""


def members(shop: Shop) -> list[ShopStaff]:
    """The shop's staff, owners first."""
    rows = db.session.scalars(
        select(ShopStaff).where(ShopStaff.shop_id == shop.id).options(selectinload(ShopStaff.user))
    ).all()
    return sorted(rows, key=lambda s: (s.role is not StaffRole.OWNER, s.user.email))


def pending_invitations(shop: Shop) -> list[StaffInvitation]:
    return list(
        db.session.scalars(
            select(StaffInvitation)
            .where(
                StaffInvitation.shop_id == shop.id,
                StaffInvitation.accepted_at.is_(None),
                StaffInvitation.expires_at > utcnow(),
            )
            .order_by(StaffInvitation.created_at.desc())
        )
    )


def invite(shop: Shop, inviter: User, email: str) -> StaffInvitation:
    """Mail `email` a single-use link to join `shop` as staff."""
    email = email.strip().lower()
    if any(m.user.email == email for m in members(shop)):
        raise FieldError({"email": _("Cette personne fait déjà partie de l'équipe.")})
    invitation = StaffInvitation(
        shop_id=shop.id,
        email=email,
        nonce=secrets.token_hex(16),
        expires_at=utcnow() + timedelta(days=STAFF_INVITATION_DAYS),
        invited_by_id=inviter.id,
    )
    db.session.add(invitation)
    db.session.flush()
    token = sign(STAFF_INVITATION_SALT, {"i": invitation.id, "n": invitation.nonce})
    link = public_url("merchants.staff_invitation", token=token)
    context = {"shop": shop, "inviter": inviter, "link": link, "days": STAFF_INVITATION_DAYS}
    with force_locale(inviter.locale or "fr"):
        subject = _(
            "%(name)s vous invite à rejoindre l'équipe de %(shop)s sur Comptoir",
            name=inviter.display_name,
            shop=shop.name,
        )
        text = render_template("merchants/mail/staff_invitation.txt", **context)
    queue_mail(email, subject, text)
    log.info("staff invitation %s to shop %s by user %s", invitation.id, shop.id, inviter.id)
    return invitation


def invitation_for_token(token: str) -> StaffInvitation:
    """The invitation a valid token names; InvalidInvitation otherwise."""
    data = unsign(STAFF_INVITATION_SALT, token, STAFF_INVITATION_DAYS * 24 * 3600)
    if data is None or not isinstance(data.get("i"), int):
        raise InvalidInvitation(token)
    invitation = db.session.get(StaffInvitation, data["i"])
    if (
        invitation is None
        or not secrets.compare_digest(invitation.nonce, str(data.get("n", "")))
        or invitation.accepted_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise InvalidInvitation(token)
    return invitation


def accept(token: str, user: User) -> ShopStaff:
    """`user` joins the invitation's shop as staff (and becomes a merchant)."""
    invitation = invitation_for_token(token)
    locked = db.session.scalar(
        select(StaffInvitation).where(StaffInvitation.id == invitation.id).with_for_update()
    )
    if locked is None or locked.accepted_at is not None:
        raise InvalidInvitation(token)
    if user.email != invitation.email:
        raise WrongAccount(invitation.email)
    membership = db.session.get(ShopStaff, (invitation.shop_id, user.id))
    if membership is None:
        membership = ShopStaff(shop_id=invitation.shop_id, user=user, role=StaffRole.STAFF)
        db.session.add(membership)
    grant_role(user, Role.MERCHANT)
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    db.session.flush()
    log.info("user %s joined shop %s", user.id, invitation.shop_id)
    return membership


def remove(shop: Shop, user_id: int, by: User) -> User:
    """Remove someone from the shop's team; never its last owner."""
    membership = db.session.scalar(
        select(ShopStaff)
        .where(ShopStaff.shop_id == shop.id, ShopStaff.user_id == user_id)
        .with_for_update()
    )
    if membership is None:
        raise StaffError(_("Cette personne ne fait pas partie de l'équipe."))
    if membership.role is StaffRole.OWNER:
        owners = db.session.scalars(
            select(ShopStaff.user_id)
            .where(ShopStaff.shop_id == shop.id, ShopStaff.role == StaffRole.OWNER)
            .with_for_update()
        ).all()
        if len(owners) <= 1:
            raise StaffError(
                _("La boutique doit garder au moins un propriétaire : il ne peut pas être retiré.")
            )
    user = membership.user
    db.session.delete(membership)
    db.session.flush()
    still_merchant = db.session.scalar(
        select(ShopStaff.shop_id).where(ShopStaff.user_id == user.id)
    )
    if still_merchant is None:
        user.roles = [r for r in user.roles if r.role is not Role.MERCHANT]
        db.session.flush()
    log.info("user %s removed from shop %s by user %s", user.id, shop.id, by.id)
    return user
