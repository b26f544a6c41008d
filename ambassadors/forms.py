"""The Cityzens' forms: syntax only; the rules (lengths, who may) live in operations."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from marketplace.forms import strip

from .models import COMMENT_MAX, DISPLAY_NAME_MAX, HIDDEN_REASON_MAX


class OptInForm(FlaskForm):
    display_name = StringField(
        _l("Nom affiché (pseudonyme)"),
        filters=[strip],
        render_kw={"maxlength": DISPLAY_NAME_MAX, "autocomplete": "nickname"},
    )
    accept_rules = BooleanField(_l("J'accepte les règles des Cityzens"))


class RecommendForm(FlaskForm):
    comment = TextAreaField(
        _l("Votre avis"),
        filters=[strip],
        render_kw={"maxlength": COMMENT_MAX, "rows": 4},
    )


class ActionForm(FlaskForm):
    """A button that changes something (withdraw, opt out): its CSRF token only."""


class HideRecommendationForm(FlaskForm):
    """The collectivité's reason for hiding a recommendation (its length is checked by
    operations.hide); the Cityzen sees it."""

    reason = TextAreaField(
        _l("Motif du masquage"),
        filters=[strip],
        render_kw={"maxlength": HIDDEN_REASON_MAX, "rows": 2},
    )
