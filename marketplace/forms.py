"""Account forms: syntax checks only; the rules live in operations."""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, PasswordField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    ValidationError,
)

from .security import password_problem

REQUIRED = _l("Ce champ est obligatoire.")


def normalise_email(value: Any) -> Any:
    """Trim and lower-case an e-mail address."""
    return value.strip().lower() if isinstance(value, str) else value


def strip(value: Any) -> Any:
    """Trim surrounding spaces."""
    return value.strip() if isinstance(value, str) else value


def email_field(label: Any = None) -> EmailField:
    """The e-mail field shared by every account form."""
    return EmailField(
        label or _l("Adresse e-mail"),
        filters=[normalise_email],
        validators=[
            DataRequired(message=REQUIRED),
            Length(max=254, message=_l("254 caractères au plus.")),
            Email(message=_l("Saisissez une adresse e-mail valide, par exemple nom@exemple.fr.")),
        ],
    )


def new_password_fields(label: Any = None) -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation."""
    password = PasswordField(
        label or _l("Mot de passe"),
        validators=[InputRequired(message=REQUIRED)],
    )
    confirm = PasswordField(
        _l("Confirmez le mot de passe"),
        validators=[
            InputRequired(message=REQUIRED),
            EqualTo("password", message=_l("Les deux mots de passe sont différents.")),
        ],
    )
    return password, confirm


class NewAccountForm(FlaskForm):
    """The fields of a new account: names, e-mail, password twice, the terms."""

    first_name = StringField(
        _l("Prénom"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=100)],
    )
    last_name = StringField(
        _l("Nom"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=100)],
    )
    email = email_field()
    password, confirm = new_password_fields()
    accept_terms = BooleanField(
        _l("J'accepte les conditions d'utilisation de Comptoir"),
        validators=[DataRequired(message=_l("Acceptez les conditions d'utilisation."))],
    )

    def new_account(self) -> dict[str, str]:
        """operations.sign_up's arguments, the account in the visitor's language."""
        return {
            "email": self.email.data or "",
            "password": self.password.data or "",
            "first_name": self.first_name.data or "",
            "last_name": self.last_name.data or "",
            "locale": str(get_locale() or "fr"),
        }

    def validate_password(self, field: Field) -> None:
        """The password policy, checked with the other fields' errors."""
        names = [self.email.data or "", self.first_name.data or "", self.last_name.data]
        problem = password_problem(field.data or "", [n or "" for n in names])
        if problem:
            raise ValidationError(problem)


class SignupForm(NewAccountForm):
    """Create a resident account."""


class LoginForm(FlaskForm):
    """Sign in with an e-mail and a password."""

    email = email_field()
    password = PasswordField(_l("Mot de passe"), validators=[InputRequired(message=REQUIRED)])
    remember = BooleanField(_l("Rester connecté sur cet appareil"))


class ForgotPasswordForm(FlaskForm):
    """Ask for a password reset link."""

    email = email_field()


class ResetPasswordForm(FlaskForm):
    """Choose a new password from a reset link."""

    password, confirm = new_password_fields(_l("Nouveau mot de passe"))


class ChangePasswordForm(FlaskForm):
    """Change the password of the signed-in user."""

    current_password = PasswordField(
        _l("Mot de passe actuel"), validators=[InputRequired(message=REQUIRED)]
    )
    password, confirm = new_password_fields(_l("Nouveau mot de passe"))
