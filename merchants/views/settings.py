"""The shop's page settings with a preview of the public page, its exceptional
closures, and the payout details (owners only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role, utcnow
from marketplace.operations import FieldError
from marketplace.payments import PaymentError
from marketplace.security import role_required

from ..forms import ClosureForm, PayoutForm, ShopPageForm
from ..models import Product, Shop
from ..operations import PARIS, connect
from ..operations import settings as page
from .common import bp, staff_shop_or_404
from .onboarding import apply_errors

Page = str | Response | tuple[str, int]

METHOD_LABELS = {
    FulfilmentMethod.CLICK_AND_COLLECT.value: _l("Retrait en boutique"),
    FulfilmentMethod.EXPRESS.value: _l("Livraison express"),
    FulfilmentMethod.STANDARD.value: _l("Livraison standard"),
    FulfilmentMethod.MERCHANT_DELIVERY.value: _l("Livraison par la boutique"),
}


@dataclass
class Preview:
    """What the public page would show: the saved shop or the unsaved settings."""

    shop: Shop
    settings: page.PageSettings
    picks: list[Product]
    unsaved: bool


def today() -> date:
    return utcnow().astimezone(PARIS).date()


def _fill(form: ShopPageForm, shop: Shop, products: list[Product]) -> None:
    """The form as saved."""
    form.tagline.data, form.story.data, form.advice.data = shop.tagline, shop.story, shop.advice
    form.picks.data = [p.id for p in products if p.merchant_pick]
    form.methods.data = list(shop.fulfilment_methods or [])
    form.preparation_minutes.data = shop.preparation_minutes
    form.delivery_radius_km.data = (
        f"{shop.delivery_radius_km:g}".replace(".", ",")
        if shop.delivery_radius_km is not None
        else ""
    )
    form.delivery_fee.data = (
        f"{shop.delivery_fee_cents / 100:.2f}".replace(".", ",")
        if shop.delivery_fee_cents is not None
        else ""
    )
    for weekday, entry in enumerate(form.hours):
        periods = [h for h in shop.hours if h.weekday == weekday][:2]
        for (open_key, close_key), period in zip(page.PERIODS, periods, strict=False):
            entry[open_key].data = period.opens_at.strftime("%H:%M")
            entry[close_key].data = period.closes_at.strftime("%H:%M")


def _saved_settings(shop: Shop, products: list[Product]) -> page.PageSettings:
    return page.PageSettings(
        tagline=shop.tagline,
        story=shop.story,
        advice=shop.advice,
        pick_ids=[p.id for p in products if p.merchant_pick],
        methods=list(shop.fulfilment_methods or []),
        preparation_minutes=shop.preparation_minutes,
        delivery_radius_km=shop.delivery_radius_km,
        delivery_fee_cents=shop.delivery_fee_cents,
        hours=[page.Period(h.weekday, h.opens_at, h.closes_at) for h in shop.hours],
    )


def _saved_preview(shop: Shop, products: list[Product]) -> Preview:
    picks = [p for p in products if p.merchant_pick]
    return Preview(shop, _saved_settings(shop, products), picks, unsaved=False)


def _check(form: ShopPageForm, shop: Shop) -> page.PageSettings:
    return page.check_page(
        shop,
        tagline=form.tagline.data or "",
        story=form.story.data or "",
        advice=form.advice.data or "",
        pick_ids=list(form.picks.data or []),
        methods=[str(m) for m in form.methods.data or []],
        preparation_minutes=int(form.preparation_minutes.data or 0),
        delivery_radius_km=form.delivery_radius_km.data,
        delivery_fee=form.delivery_fee.data,
        hours=[dict(entry.data) for entry in form.hours],
    )


def _render(
    shop: Shop,
    form: ShopPageForm,
    products: list[Product],
    preview: Preview,
    closure_form: ClosureForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "merchants/page_settings.html",
            shop=shop,
            form=form,
            products=products,
            preview=preview,
            closure_form=closure_form or ClosureForm(formdata=None),
            method_labels=METHOD_LABELS,
            today=today(),
        ),
        status,
    )


@bp.route("/<int:shop_id>/page", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def page_settings(shop_id: int) -> Page:
    """Edit the public page; "Prévisualiser" shows it with the unsaved values."""
    shop = staff_shop_or_404(shop_id)
    products = page.shop_products(shop)
    form = ShopPageForm()
    form.picks.choices = [(p.id, p.name) for p in products]
    form.methods.choices = [(k, str(v)) for k, v in METHOD_LABELS.items()]
    saved = _saved_preview(shop, products)
    if request.method == "GET":
        _fill(form, shop, products)
        return _render(shop, form, products, saved)
    if not form.validate_on_submit():
        return _render(shop, form, products, saved, status=422)
    try:
        settings = _check(form, shop)
    except FieldError as error:
        apply_errors(form, error)
        return _render(shop, form, products, saved, status=422)
    if request.form.get("action") == "preview":
        picks = [p for p in products if p.id in set(settings.pick_ids)]
        return _render(shop, form, products, Preview(shop, settings, picks, True))
    page.save_page(shop, settings)
    db.session.commit()
    flash(_("La page de la boutique est enregistrée."), "success")
    return redirect(url_for("merchants.page_settings", shop_id=shop.id))


@bp.post("/<int:shop_id>/fermetures")
@role_required(Role.MERCHANT)
def add_closure(shop_id: int) -> Page:
    """Add an exceptional closure (holidays, inventory)."""
    shop = staff_shop_or_404(shop_id)
    closure_form = ClosureForm()
    if closure_form.validate_on_submit():
        try:
            assert closure_form.starts_on.data and closure_form.ends_on.data
            page.add_closure(
                shop,
                closure_form.starts_on.data,
                closure_form.ends_on.data,
                closure_form.reason.data or "",
                today(),
            )
        except FieldError as error:
            db.session.rollback()
            apply_errors(closure_form, error)
        else:
            db.session.commit()
            flash(_("La fermeture exceptionnelle est ajoutée."), "success")
            return redirect(url_for("merchants.page_settings", shop_id=shop.id) + "#fermetures")
    products = page.shop_products(shop)
    form = ShopPageForm(formdata=None)
    form.picks.choices = [(p.id, p.name) for p in products]
    form.methods.choices = [(k, str(v)) for k, v in METHOD_LABELS.items()]
    _fill(form, shop, products)
    saved = _saved_preview(shop, products)
    return _render(shop, form, products, saved, closure_form, status=422)


@bp.post("/<int:shop_id>/fermetures/<int:closure_id>/supprimer")
@role_required(Role.MERCHANT)
def remove_closure(shop_id: int, closure_id: int) -> Response:
    """Remove one of the shop's exceptional closures."""
    shop = staff_shop_or_404(shop_id)
    if page.remove_closure(shop, closure_id):
        db.session.commit()
        flash(_("La fermeture exceptionnelle est supprimée."), "success")
    else:
        flash(_("Cette fermeture n'existe plus."), "error")
    return redirect(url_for("merchants.page_settings", shop_id=shop.id) + "#fermetures")


def _connect_enabled() -> bool:
    return bool(current_app.config.get("STRIPE_CONNECT_ENABLED"))


@bp.route("/<int:shop_id>/versements", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def payout(shop_id: int) -> Page:
    """The shop's IBAN and holder (owners only); the IBAN is only ever shown masked."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    form = PayoutForm()
    status = 200
    if request.method == "GET":
        form.iban_holder.data = shop.iban_holder
    elif form.validate_on_submit():
        try:
            page.set_payout(shop, form.iban.data or "", form.iban_holder.data or "")
        except FieldError as error:
            db.session.rollback()
            apply_errors(form, error)
            status = 422
        else:
            db.session.commit()
            flash(_("Les coordonnées bancaires sont enregistrées."), "success")
            return redirect(url_for("merchants.payout", shop_id=shop.id))
    else:
        status = 422
    form.iban.data = ""  # never sent back to the browser
    return (
        render_template(
            "merchants/payout.html",
            shop=shop,
            form=form,
            masked_iban=page.mask_iban(shop.iban),
            bank_name=page.bank_name(shop.iban),
            connect_enabled=_connect_enabled(),
            connect_account=connect.connected_account(shop) if _connect_enabled() else None,
        ),
        status,
    )


def _onboarding_redirect(shop: Shop) -> Response:
    """To Stripe's onboarding for the shop's account (created on first use)."""
    try:
        url = connect.start_onboarding(
            shop,
            refresh_url=url_for(
                "merchants.stripe_connect_refresh", shop_id=shop.id, _external=True
            ),
            return_url=url_for("merchants.stripe_connect_return", shop_id=shop.id, _external=True),
        )
    except PaymentError:
        db.session.rollback()
        flash(_("Stripe ne répond pas : réessayez dans un moment."), "error")
        return redirect(url_for("merchants.payout", shop_id=shop.id))
    db.session.commit()
    return redirect(url)


@bp.post("/<int:shop_id>/versements/stripe-connect")
@role_required(Role.MERCHANT)
def stripe_connect(shop_id: int) -> Response:
    """ "Connecter mon compte Stripe": to Stripe's onboarding (owners only)."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    if not _connect_enabled():
        flash(_("Stripe Connect n'est pas configuré sur cette plateforme."), "error")
        return redirect(url_for("merchants.payout", shop_id=shop.id))
    return _onboarding_redirect(shop)


@bp.get("/<int:shop_id>/versements/stripe-connect/relancer")
@role_required(Role.MERCHANT)
def stripe_connect_refresh(shop_id: int) -> Response:
    """Stripe's refresh URL (the link expired or was used): a new link."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    if not _connect_enabled():
        abort(404)
    return _onboarding_redirect(shop)


@bp.get("/<int:shop_id>/versements/stripe-connect/retour")
@role_required(Role.MERCHANT)
def stripe_connect_return(shop_id: int) -> Response:
    """Stripe's return URL: the account's state read from Stripe, then the page."""
    shop = staff_shop_or_404(shop_id, owner_only=True)
    if not _connect_enabled():
        abort(404)
    try:
        account = connect.refresh(shop)
    except PaymentError:
        db.session.rollback()
        flash(_("Stripe ne répond pas : l'état du compte sera mis à jour plus tard."), "error")
        return redirect(url_for("merchants.payout", shop_id=shop.id))
    db.session.commit()
    if account is None:
        abort(404)
    if account.payouts_enabled:
        flash(_("Votre compte Stripe est prêt : vos reversements passeront par Stripe."), "success")
    elif account.details_submitted:
        flash(
            _("Stripe vérifie vos informations : les versements ne sont pas encore activés."),
            "info",
        )
    else:
        flash(_("L'inscription chez Stripe n'est pas terminée."), "info")
    return redirect(url_for("merchants.payout", shop_id=shop.id) + "#stripe-connect")
