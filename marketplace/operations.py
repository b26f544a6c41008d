"""Account services: sign-up, log-in, password reset and change.

They add and flush; the view that calls them commits once.
"""

from __future__ import annotations

import logging
import uuid
from functools import cache

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .mail import public_url, queue_mail
from .models import Role, User, UserRole, utcnow
from .security import (
    find_user_by_email,
    hash_password,
    password_problem,
    sign,
    unsign,
    verify_password,
)

log = logging.getLogger(__name__)

RESET_SALT = "password-reset"


class FieldError(ValueError):
    """Input refused by business rules: a message per field, shown next to it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


class InvalidResetToken(ValueError):
    """A reset link that is expired, tampered with or already used."""


def email_taken_message() -> str:
    """The message shown when an e-mail already has an account."""
    return _("Un compte existe déjà avec cette adresse e-mail.")


def check_password(field: str, password: str, user_inputs: list[str]) -> None:
    """Raise FieldError on `field` when the password policy refuses `password`."""
    problem = password_problem(password, user_inputs)
    if problem:
        raise FieldError({field: problem})


def sign_up(
    *, email: str, password: str, first_name: str, last_name: str, locale: str = "fr"
) -> User:
    """Create a resident account; FieldError on a taken e-mail or a weak password."""
    email = email.strip().lower()
    errors = {}
    problem = password_problem(password, [email, first_name, last_name])
    if problem:
        errors["password"] = problem
    if find_user_by_email(email) is not None:
        errors["email"] = email_taken_message()
    if errors:
        raise FieldError(errors)
    user = User(
        email=email,
        password_hash=hash_password(password),
        first_name=first_name,
        last_name=last_name,
        locale=locale,
        roles=[UserRole(role=Role.RESIDENT)],
    )
    try:
        with db.session.begin_nested():  # a concurrent sign-up may win the race
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise FieldError({"email": email_taken_message()}) from None
    log.info("account created: user %s", user.id)
    return user


@cache
def _dummy_hash() -> str:
    return hash_password(uuid.uuid4().hex)


def authenticate(email: str, password: str) -> User | None:
    """The user with this e-mail and password, or None (inactive users included)."""
    user = find_user_by_email(email)
    if user is None:
        # Verify anyway so an unknown address takes as long as a wrong password.
        verify_password(User(password_hash=_dummy_hash()), password)
        return None
    if not verify_password(user, password):
        return None
    return user


def record_login(user: User) -> None:
    """Note the time of a successful log-in."""
    user.last_login_at = utcnow()
    db.session.flush()


def reset_link_minutes() -> int:
    """How long a reset link stays valid, in whole minutes (at least one)."""
    return max(reset_max_age() // 60, 1)


def reset_max_age() -> int:
    return int(current_app.config["PASSWORD_RESET_MAX_AGE"])


def make_reset_token(user: User) -> str:
    """A signed token naming the user and their current session token."""
    return sign(RESET_SALT, {"u": user.id, "s": user.session_token})


def user_for_reset_token(token: str) -> User | None:
    """The user a valid, unexpired, unused reset token names, or None."""
    data = unsign(RESET_SALT, token, reset_max_age())
    if data is None or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.is_active or user.session_token != data.get("s"):
        return None
    return user


def request_password_reset(email: str) -> bool:
    """Mail a reset link when an active account has this e-mail; True if mailed."""
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        return False
    link = public_url("auth.reset_password", token=make_reset_token(user))
    context = {"user": user, "link": link, "minutes": reset_link_minutes()}
    with force_locale(user.locale or "fr"):
        subject = _("Réinitialiser votre mot de passe Comptoir")
        text = render_template("mail/password_reset.txt", **context)
        html = render_template("mail/password_reset.html", **context)
    queue_mail(user.email, subject, text, html)
    log.info("password reset link queued: user %s", user.id)
    return True


def set_password(user: User, password: str) -> None:
    """Store a new password hash and end every session and reset link."""
    user.password_hash = hash_password(password)
    user.session_token = uuid.uuid4().hex
    db.session.flush()


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset token; it cannot be used again."""
    user = user_for_reset_token(token)
    if user is None:
        raise InvalidResetToken(token)
    check_password("password", password, [user.email, user.first_name, user.last_name])
    set_password(user, password)
    log.info("password reset: user %s", user.id)
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password after checking the current one."""
    if not verify_password(user, current_password):
        raise FieldError({"current_password": _("Mot de passe actuel incorrect.")})
    check_password("password", new_password, [user.email, user.first_name, user.last_name])
    set_password(user, new_password)
    log.info("password changed: user %s", user.id)


def set_locale(user: User, locale: str) -> None:
    """Remember the user's language."""
    user.locale = locale
    db.session.flush()
