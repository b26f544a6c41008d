"""The basket: in the session until log-in, then in the database."""

from __future__ import annotations

from typing import Any

from flask import (
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from delivery.operations import DeliveryOption, available_methods
from marketplace.extensions import db

from .. import operations as ops
from ..forms import AddToBasketForm
from ..operations.checkout import DeliveryAddress, delivery_address, shop_offers
from .common import METHOD_LABELS, bp


def session_quantities() -> dict[int, int]:
    raw = session.get("basket") or {}
    return {int(k): int(v) for k, v in raw.items() if str(k).isdigit()}


def _quantities() -> dict[int, int]:
    if current_user.is_authenticated:
        return ops.basket_quantities(ops.user_basket(current_user))
    return session_quantities()


@bp.get("/panier")
def basket() -> str:
    groups = ops.group_by_shop(_quantities())
    address, offers = _offers(groups)
    return render_template(
        "shop/basket.html",
        groups=groups,
        address=address,
        offers=offers,
        total=sum(g.subtotal_cents for g in groups),
        methods={g.shop.id: available_methods(g.shop) for g in groups},
        method_labels=METHOD_LABELS,
        form=AddToBasketForm(),
    )


def _offers(
    groups: list[ops.ShopGroup],
) -> tuple[DeliveryAddress | None, dict[int, list[DeliveryOption]]]:
    """Each shop's methods with their fees, for the address given at checkout."""
    saved = session.get("delivery_address")
    if not groups or not isinstance(saved, dict):
        return None, {}
    try:
        address = delivery_address(
            groups[0].shop.territory_id,
            str(saved.get("street") or ""),
            str(saved.get("postcode") or ""),
            saved.get("commune"),
        )
    except ops.CheckoutError:
        return None, {}
    return address, {o.group.shop.id: o.options for o in shop_offers(groups, address)}


@bp.post("/panier")
def update_basket() -> Response:
    """Add to, change or remove from the basket (quantity 0 removes)."""
    form = AddToBasketForm()
    back = request.form.get("next") or url_for("storefront.basket")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("storefront.basket")
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back)
    variant_id, quantity = form.variant_id.data, form.quantity.data
    adding = request.form.get("mode") == "add"
    try:
        if current_user.is_authenticated:
            basket_row = ops.user_basket(current_user)
            if adding:
                quantity += ops.basket_quantities(basket_row).get(variant_id, 0)
            ops.set_quantity(basket_row, variant_id, quantity)
            db.session.commit()
        else:
            _set_session_quantity(variant_id, quantity, adding)
    except ops.CheckoutError as exc:
        db.session.rollback()
        for message in exc.problems.values():
            flash(message, "error")
        return redirect(back)
    flash(_("Panier mis à jour."), "success")
    return redirect(back)


def _set_session_quantity(variant_id: int, quantity: int, adding: bool) -> None:
    quantities = session_quantities()
    if adding:
        quantity += quantities.get(variant_id, 0)
    # Same rules as the stored basket: validated by the operation on a scratch row.
    variant = ops.sellable_variants([variant_id]).get(variant_id)
    if variant is None:
        raise ops.CheckoutError({"variant_id": _("Ce produit n'est pas en vente.")})
    if quantity > ops.max_quantity(variant):
        raise ops.CheckoutError(
            {"quantity": _("Il ne reste que %(n)d exemplaire(s).", n=ops.max_quantity(variant))}
        )
    if quantity <= 0:
        quantities.pop(variant_id, None)
    else:
        quantities[variant_id] = quantity
    session["basket"] = {str(k): v for k, v in quantities.items()}


def merge_session_basket(_app: Flask, user: Any) -> None:
    extra = session_quantities()
    if not extra:
        return
    ops.merge_quantities(ops.user_basket(user), extra)
    db.session.commit()
    session.pop("basket", None)
