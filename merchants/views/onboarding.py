"""Joining: the shop sign-up (free, or from the collectivité's invitation) and the
page that moves the shop's pin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import Field, FieldList, FormField

from marketplace import operations as accounts
from marketplace.extensions import db, limiter
from marketplace.models import Role
from marketplace.operations import FieldError
from marketplace.security import role_required
from marketplace.views import start_session

from ..forms import AccountShopSignupForm, PinForm, ShopSignupForm
from ..models import Shop
from ..operations import onboarding
from .common import bp, staff_shop_or_404

Page = str | Response | tuple[str, int]

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap"


def pin_map_config() -> dict[str, Any]:
    """What the small pin map needs; `leaflet` is False when Leaflet is not vendored,
    and the page then keeps its plain latitude and longitude inputs."""
    storefront = current_app.blueprints.get("storefront")
    folder = storefront.static_folder if storefront is not None else None
    leaflet = bool(folder) and (Path(str(folder)) / "vendor" / "leaflet" / "leaflet.js").is_file()
    return {
        "leaflet": leaflet,
        "tile_url": current_app.config.get("MAP_TILE_URL", DEFAULT_TILE_URL),
        "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", DEFAULT_TILE_ATTRIBUTION),
    }


def _fields(form: Any) -> Iterator[Field]:
    """Every field of a form, those of its field lists and sub-forms included."""
    for f in form:
        if isinstance(f, FieldList):
            for entry in f:
                yield from _fields(entry.form) if isinstance(entry, FormField) else [entry]
        elif isinstance(f, FormField):
            yield from _fields(f.form)
        else:
            yield f


def apply_errors(form: FlaskForm, error: FieldError) -> None:
    """Show business-rule messages next to their fields ("hours-2-close1" included);
    a message for a field the form does not have goes to its form-wide errors."""
    by_name = {f.name: f for f in _fields(form)}
    for name, message in error.errors.items():
        target = by_name.get(name)
        if target is None:
            form.form_errors = [*form.form_errors, message]
        else:
            target.errors = [*target.errors, message]


def _choices(form: ShopSignupForm) -> None:
    locale = str(get_locale() or "fr")
    form.trade_id.choices = [(None, _("— Choisissez —"))] + [
        (t.id, t.name_en if locale == "en" else t.name_fr) for t in onboarding.trades()
    ]
    form.commune_id.choices = [(None, _("— Choisissez —"))] + [
        (c.id, f"{c.name} ({', '.join(c.postcodes)})" if c.postcodes else c.name)
        for c in onboarding.territory_communes()
    ]


def _approximate_notice(shop: Shop) -> str:
    return _(
        "L'adresse n'a pas pu être localisée précisément : l'épingle est placée au point "
        "de référence de %(commune)s, elle est approximative. Déplacez-la sur la "
        "boutique ci-dessous.",
        commune=shop.commune.name,
    )


@bp.route("/inscription", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def signup() -> Page:
    """Register a shop for free; a visitor without an account creates one with it."""
    anonymous = not current_user.is_authenticated
    form: ShopSignupForm = AccountShopSignupForm() if anonymous else ShopSignupForm()
    _choices(form)
    token = (request.form.get("invitation") or request.args.get("invitation") or "").strip()
    invitation = onboarding.shop_invitation_for_token(token) if token else None
    invitation_refused = bool(token) and invitation is None
    if request.method == "GET" and invitation is not None:
        form.invitation.data = token
        form.name.data = form.name.data or invitation.shop_name
        form.contact_email.data = invitation.email
        if isinstance(form, AccountShopSignupForm):
            form.email.data = invitation.email
    if invitation_refused:
        form.invitation.data = ""  # the next submission is a plain sign-up
    if request.method == "POST" and not invitation_refused and form.validate_on_submit():
        errors: dict[str, str] = {}
        details = None
        try:
            details = onboarding.check_shop_details(
                name=form.name.data or "",
                siret=form.siret.data or "",
                trade_id=form.trade_id.data,
                street=form.street.data or "",
                postcode=form.postcode.data or "",
                commune_id=form.commune_id.data,
                phone=form.phone.data or "",
                email=form.contact_email.data or "",
                latitude=form.latitude.data,
                longitude=form.longitude.data,
            )
        except FieldError as error:
            errors.update(error.errors)
        if isinstance(form, AccountShopSignupForm):
            try:
                user = accounts.sign_up(**form.new_account())
            except FieldError as error:
                errors.update(error.errors)
        else:
            user = current_user._get_current_object()
        if errors or details is None:
            db.session.rollback()
            apply_errors(form, FieldError(errors))
        else:
            shop, point = onboarding.register_shop(user, details, invitation)
            if anonymous:
                start_session(user)
            db.session.commit()
            flash(
                _(
                    "%(name)s est inscrite. La collectivité va vérifier ses informations : "
                    "la boutique sera visible des habitants dès sa validation.",
                    name=shop.name,
                ),
                "success",
            )
            if point.approximate:
                flash(_approximate_notice(shop), "info")
            return redirect(url_for("merchants.location", shop_id=shop.id))
    page = render_template(
        "merchants/signup.html",
        form=form,
        anonymous=anonymous,
        invitation=invitation,
        invitation_refused=invitation_refused,
        map=pin_map_config(),
    )
    return (page, 422) if request.method == "POST" else page


@bp.route("/<int:shop_id>/emplacement", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def location(shop_id: int) -> Page:
    """Move the shop's pin (number inputs; a draggable marker with JavaScript)."""
    shop = staff_shop_or_404(shop_id)
    form = PinForm()
    if request.method == "GET":
        form.latitude.data, form.longitude.data = shop.latitude, shop.longitude
    elif form.validate_on_submit():
        try:
            assert form.latitude.data is not None and form.longitude.data is not None
            onboarding.move_pin(shop, form.latitude.data, form.longitude.data)
        except FieldError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(_("L'emplacement de la boutique est enregistré."), "success")
            return redirect(url_for("merchants.location", shop_id=shop.id))
    return render_template(
        "merchants/location.html",
        shop=shop,
        form=form,
        approximate=onboarding.pin_is_commune_point(shop),
        map=pin_map_config(),
    )
