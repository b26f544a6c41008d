"""Storefront forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, Regexp

from .operations import MAX_QUANTITY


class AddToBasketForm(FlaskForm):
    variant_id = IntegerField(_l("Article"), validators=[InputRequired()])
    quantity = IntegerField(
        _l("Quantité"),
        default=1,
        validators=[
            InputRequired(_l("Indiquez une quantité.")),
            NumberRange(0, MAX_QUANTITY, _l("Entre 0 et %(max)d.", max=MAX_QUANTITY)),
        ],
    )


class CheckoutForm(FlaskForm):
    checkout_key = HiddenField()
    name = StringField(
        _l("Nom et prénom"),
        validators=[InputRequired(_l("Indiquez votre nom.")), Length(max=200)],
    )
    email = StringField(
        _l("Adresse e-mail"),
        validators=[
            InputRequired(_l("Indiquez votre adresse e-mail.")),
            Email(_l("Adresse e-mail invalide (exemple : nom@exemple.fr).")),
            Length(max=254),
        ],
    )
    phone = StringField(
        _l("Téléphone"),
        validators=[
            InputRequired(_l("Indiquez un numéro de téléphone.")),
            Regexp(
                r"^\+?[0-9 .\-]{10,20}$",
                message=_l("Numéro invalide (exemple : 06 12 34 56 78)."),
            ),
        ],
    )
    # The delivery address: asked when a chosen method delivers (checked by the
    # checkout, which names the missing part); the communes are the territory's.
    street = StringField(_l("Numéro et rue"), validators=[Optional(), Length(max=200)])
    postcode = StringField(_l("Code postal"), validators=[Optional(), Length(max=10)])
    commune = SelectField(_l("Commune"), choices=[], validate_choice=False)
    # Shown only when the resident has wallet credit; the view puts the amount
    # available in its label.
    use_wallet = BooleanField(_l("Utiliser mon crédit Comptoir"), default=False)
