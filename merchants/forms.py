"""Merchant back office forms: syntax only; the rules live in merchants.operations."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    FloatField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.forms import REQUIRED, NewAccountForm, email_field, strip

MAX_200 = _l("200 caractères au plus.")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def int_or_none(value: Any) -> int | None:
    """Coerce a select's value; an unknown one is reported by the operations."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def clean_time(value: Any) -> Any:
    """Accept "9h30", "9:30" or "09.30" for 09:30."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower().replace("h", ":").replace(".", ":")
    match = re.fullmatch(r"(\d{1,2}):?(\d{2})?", text)
    if text and match:
        return f"{int(match.group(1)):02d}:{match.group(2) or '00'}"
    return text


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes; values the page did not offer are left to the operations."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        pass


def latitude_field() -> FloatField:
    return FloatField(
        _l("Latitude"),
        render_kw={"step": "any", "inputmode": "decimal"},
        validators=[
            Optional(),
            NumberRange(-90, 90, message=_l("Une latitude entre -90 et 90, par exemple 44.5.")),
        ],
    )


def longitude_field() -> FloatField:
    return FloatField(
        _l("Longitude"),
        render_kw={"step": "any", "inputmode": "decimal"},
        validators=[
            Optional(),
            NumberRange(
                -180, 180, message=_l("Une longitude entre -180 et 180, par exemple 0.16.")
            ),
        ],
    )


class ShopSignupForm(FlaskForm):
    """Register a shop: identity, address, contact (the pin is optional)."""

    invitation = HiddenField()
    name = StringField(
        _l("Nom de la boutique"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=200, message=MAX_200)],
    )
    siret = StringField(
        _l("Numéro SIRET"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=20)],
    )
    trade_id = SelectField(_l("Activité"), coerce=int_or_none, validate_choice=False)
    street = StringField(
        _l("Adresse (numéro et rue)"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=200, message=MAX_200)],
    )
    postcode = StringField(
        _l("Code postal"),
        filters=[strip],
        validators=[
            DataRequired(message=REQUIRED),
            Regexp(r"^\d{5}$", message=_l("Cinq chiffres, par exemple 47200.")),
        ],
    )
    commune_id = SelectField(_l("Commune"), coerce=int_or_none, validate_choice=False)
    phone = StringField(
        _l("Téléphone de la boutique"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=30)],
    )
    contact_email = email_field(_l("E-mail de la boutique"))
    latitude = latitude_field()
    longitude = longitude_field()


class AccountShopSignupForm(ShopSignupForm, NewAccountForm):
    """The shop sign-up of a visitor without an account: the account comes with it."""

    email = email_field(_l("Votre adresse e-mail (identifiant)"))


class PinForm(FlaskForm):
    """Move the shop's pin on the map."""

    latitude = latitude_field()
    longitude = longitude_field()

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        for f in (self.latitude, self.longitude):
            if f.data is None and not f.errors:
                f.errors = [*f.errors, str(REQUIRED)]
                ok = False
        return ok


def time_field(label: Any) -> StringField:
    return StringField(
        label,
        filters=[clean_time],
        validators=[
            Optional(),
            Regexp(HHMM, message=_l("Une heure au format HH:MM, par exemple 09:30.")),
        ],
    )


class DayHoursForm(Form):
    """One weekday: up to two opening periods."""

    open1 = time_field(_l("Ouverture"))
    close1 = time_field(_l("Fermeture"))
    open2 = time_field(_l("Réouverture"))
    close2 = time_field(_l("Fermeture"))


class ShopPageForm(FlaskForm):
    """The shop's public page: texts, favourites, hours, fulfilment."""

    tagline = StringField(
        _l("Accroche"), filters=[strip], validators=[Length(max=200, message=MAX_200)]
    )
    story = TextAreaField(
        _l("Notre histoire"),
        filters=[strip],
        validators=[Length(max=5000, message=_l("5000 caractères au plus."))],
    )
    advice = TextAreaField(
        _l("Les conseils de la boutique"),
        filters=[strip],
        validators=[Length(max=5000, message=_l("5000 caractères au plus."))],
    )
    picks = MultiCheckboxField(_l("Nos coups de cœur"), coerce=int_or_none)
    methods = MultiCheckboxField(_l("Modes de retrait et de livraison proposés"))
    preparation_minutes = IntegerField(
        _l("Temps de préparation (minutes)"),
        validators=[
            InputRequired(message=REQUIRED),
            NumberRange(
                0, 10080, message=_l("Un nombre de minutes entre 0 et 10080 (une semaine).")
            ),
        ],
    )
    delivery_radius_km = StringField(_l("Rayon de livraison (km)"), filters=[strip])
    delivery_fee = StringField(_l("Frais de livraison (euros)"), filters=[strip])
    hours = FieldList(FormField(DayHoursForm), min_entries=7, max_entries=7)


class ClosureForm(FlaskForm):
    """An exceptional closure, dates included."""

    starts_on = DateField(_l("Du"), validators=[InputRequired(message=REQUIRED)])
    ends_on = DateField(_l("Au (inclus)"), validators=[InputRequired(message=REQUIRED)])
    reason = StringField(
        _l("Motif (affiché aux clients)"),
        filters=[strip],
        validators=[Length(max=200, message=MAX_200)],
    )


class PayoutForm(FlaskForm):
    """Where the shop's payouts go."""

    iban = StringField(
        _l("IBAN"), filters=[strip], validators=[DataRequired(message=REQUIRED), Length(max=50)]
    )
    iban_holder = StringField(
        _l("Titulaire du compte"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=200)],
    )


class StaffInviteForm(FlaskForm):
    """Invite someone to work for the shop."""

    email = email_field()


class ShopInvitationForm(FlaskForm):
    """The collectivité invites a shop to join."""

    email = email_field()
    shop_name = StringField(
        _l("Nom de la boutique (facultatif)"),
        filters=[strip],
        validators=[Length(max=200, message=MAX_200)],
    )


class RefuseShopForm(FlaskForm):
    """Why a shop is refused; the reason is mailed to its owner."""

    reason = TextAreaField(
        _l("Motif du refus"),
        filters=[strip],
        validators=[
            DataRequired(message=_l("Indiquez le motif du refus : il est envoyé à la boutique.")),
            Length(max=500, message=_l("500 caractères au plus.")),
        ],
    )
