"""Catalogue forms: fields and lengths only; the rules are in operations.catalogue."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from marketplace.errors import size_text

from .models import ProductStatus
from .operations import images
from .operations.catalogue import CATEGORY_MAX, MAX_OPTIONS, NAME_MAX

REQUIRED = _l("Ce champ est obligatoire.")
MAX_VARIANTS = 50

VAT_CHOICES = [
    SelectChoice("2000", _l("20 % (taux normal)")),
    SelectChoice("1000", _l("10 % (taux intermédiaire)")),
    SelectChoice("550", _l("5,5 % (taux réduit : alimentation, livres…)")),
    SelectChoice("210", _l("2,1 % (taux particulier : presse, médicaments…)")),
]
STATUS_LABELS = {
    ProductStatus.DRAFT: _l("Brouillon"),
    ProductStatus.PUBLISHED: _l("Publié"),
    ProductStatus.ARCHIVED: _l("Archivé"),
}


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class VariantForm(Form):
    """One row of the variants editor (no CSRF of its own: it is part of a form)."""

    id = HiddenField()
    sku = StringField(_l("Référence (SKU)"), filters=[strip])
    price = StringField(_l("Prix TTC (€)"), filters=[strip])
    stock = StringField(_l("Stock"), filters=[strip])
    made_to_order = BooleanField(_l("Fabriqué à la commande (stock non décompté)"))
    ean = StringField(_l("Code-barres EAN"), filters=[strip])
    weight_grams = StringField(_l("Poids (grammes)"), filters=[strip])
    option1_name = StringField(_l("Option 1 : nom"), filters=[strip])
    option1_value = StringField(_l("Option 1 : valeur"), filters=[strip])
    option2_name = StringField(_l("Option 2 : nom"), filters=[strip])
    option2_value = StringField(_l("Option 2 : valeur"), filters=[strip])
    option3_name = StringField(_l("Option 3 : nom"), filters=[strip])
    option3_value = StringField(_l("Option 3 : valeur"), filters=[strip])
    delete = BooleanField(_l("Supprimer cette variante"))

    def option_pairs(self) -> list[tuple[str, str]]:
        return [
            (self[f"option{i}_name"].data or "", self[f"option{i}_value"].data or "")
            for i in range(1, MAX_OPTIONS + 1)
        ]

    def is_blank(self) -> bool:
        """A row left empty (the spare row of the editor) is ignored."""
        texts = [self.sku.data, self.price.data, self.stock.data, self.ean.data]
        texts += [self.weight_grams.data] + [t for pair in self.option_pairs() for t in pair]
        return not self.id.data and not any(texts) and not self.made_to_order.data


class ProductForm(FlaskForm):
    name = StringField(
        _l("Nom du produit"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=NAME_MAX)],
    )
    description = TextAreaField(_l("Description"), filters=[strip])
    category = StringField(_l("Catégorie"), filters=[strip], validators=[Length(max=CATEGORY_MAX)])
    # Checked by operations.catalogue, with the import's message, not by WTForms.
    vat_rate = SelectField(_l("Taux de TVA"), choices=VAT_CHOICES, validate_choice=False)
    status = SelectField(
        _l("Statut"),
        choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()],
        validate_choice=False,
    )
    merchant_pick = BooleanField(_l("Coup de cœur de la boutique"))
    variants = FieldList(FormField(VariantForm), min_entries=1, max_entries=MAX_VARIANTS)


class PhotoForm(FlaskForm):
    photo = FileField(
        _l(
            "Photo (JPEG, PNG ou WebP, %(size)s au plus)",
            size=LazyString(size_text, images.MAX_UPLOAD_BYTES),
        )
    )
    alt = StringField(
        _l("Description de la photo (texte alternatif)"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=300)],
    )


class AltForm(FlaskForm):
    alt = StringField(
        _l("Texte alternatif"),
        filters=[strip],
        validators=[DataRequired(message=REQUIRED), Length(max=300)],
    )
