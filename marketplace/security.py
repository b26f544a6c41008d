"""Passwords (argon2id), the session user, and gating pages by role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from zxcvbn import zxcvbn

from .extensions import db, login_manager
from .models import Role, User

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults

MIN_PASSWORD_LENGTH = 10
F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def password_problem(password: str, user_inputs: list[str]) -> str | None:
    """Why a password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return str(
            _l(
                "Au moins %(n)d caractères.",
                n=MIN_PASSWORD_LENGTH,
            )
        )
    if len(password) > 256:
        return str(_l("256 caractères au plus."))
    # zxcvbn knows the common-password lists and spots the user's own name in it.
    if zxcvbn(password, user_inputs=[u for u in user_inputs if u])["score"] < 3:
        return str(
            _l(
                "Ce mot de passe est trop courant ou trop facile à deviner : "
                "ajoutez des mots ou des caractères moins prévisibles."
            )
        )
    return None


def sign(salt: str, data: dict[str, Any]) -> str:
    """A URL-safe token carrying `data`, signed with the app's secret key under `salt`."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt).dumps(data)


def unsign(salt: str, token: str, max_age: int) -> dict[str, Any] | None:
    """The data of a token `sign` made under `salt` less than `max_age` seconds ago, or None."""
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)
    try:
        data = serializer.loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    return data if isinstance(data, dict) else None


def load_user(user_key: str) -> User | None:
    # The session stores "id:session_token" so changing the password ends every
    # other session.
    user_id, _, token = user_key.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_token != token:
        return None
    return user


def role_required(*roles: Role) -> Callable[[F], F]:
    """Only signed-in users holding one of `roles` get through; others get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Connectez-vous pour accéder à cette page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith(("/compte", "/account")):
            response.headers["Cache-Control"] = "no-store"
        return response
