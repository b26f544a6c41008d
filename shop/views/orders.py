"""Checkout, payment and the resident's orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import ledger
from marketplace.extensions import db
from marketplace.i18n import money
from marketplace.models import Commune, FulfilmentMethod, Role
from marketplace.payments import PaymentError, stripe_js_url
from marketplace.security import role_required

from .. import operations as ops
from ..forms import CheckoutForm
from ..models import Order, OrderStatus, SubOrder
from ..operations import refunds as refund_ops
from ..operations import tracking as tracking_ops
from ..operations.checkout import (
    DELIVERIES,
    DeliveryAddress,
    ShopChoice,
    ShopOffer,
    delivery_address,
    shop_offers,
)
from ..operations.wallet import CARD_MINIMUM_CENTS, credit_to_use
from .common import METHOD_LABELS, bp


@bp.route("/commande", methods=["GET", "POST"])
@role_required(Role.RESIDENT)
def checkout() -> Any:
    """Contact, fulfilment per shop (with the delivery address when a method needs
    one), then payment; changes are shown, never applied."""
    basket_row = ops.user_basket(current_user)
    form = CheckoutForm()
    problems: dict[str, str] = {}
    groups = ops.group_by_shop(ops.basket_quantities(basket_row))
    _commune_choices(form, groups)
    address: DeliveryAddress | None = None
    checking = request.form.get("action") == "check"
    if request.method == "GET":
        _prefill(form)
        address, _ignored = _address_for_page(form, groups)
    elif checking:
        address, problems = _address_for_page(form, groups)
    elif form.validate_on_submit():
        try:
            address = _address(form, groups)
            order = _place(form, basket_row, groups, address)
        except ops.CheckoutError as exc:
            db.session.rollback()
            problems = exc.problems
        except PaymentError as exc:
            db.session.rollback()
            problems = {"basket": str(exc)}
        else:
            db.session.commit()
            if order.status is OrderStatus.PAID:  # the wallet paid it all: no card step
                flash(_("Commande payée avec votre crédit Comptoir."), "success")
                return redirect(url_for("storefront.order_detail", public_id=order.public_id))
            return redirect(url_for("storefront.pay", public_id=order.public_id))
        basket_row = ops.user_basket(current_user)
    else:
        address, _ignored = _address_for_page(form, groups)
    if address is None and request.method == "POST" and not checking:
        address, _ignored = _address_for_page(form, groups)
    if address is not None:
        # Remembered for the basket page, which then shows each shop's fees.
        session["delivery_address"] = {
            "street": address.street,
            "postcode": address.postcode,
            "commune": address.commune.id,
        }
    _address_errors(form, problems)
    changes = ops.acknowledge_changes(basket_row)
    groups = ops.group_by_shop(ops.basket_quantities(basket_row))
    offers = shop_offers(groups, address)
    credit = ledger.wallet_credit(current_user.id)
    db.session.commit()
    if not groups and not problems:
        flash(_("Votre panier est vide."), "info")
        return redirect(url_for("storefront.basket"))
    status = 422 if request.method == "POST" and not checking else 200
    total = sum(g.subtotal_cents for g in groups)
    fees = _chosen_fees(offers)
    form.use_wallet.label.text = _(
        "Utiliser mon crédit Comptoir (%(amount)s disponibles)", amount=money(credit)
    )
    return render_template(
        "shop/checkout.html",
        form=form,
        groups=groups,
        offers=offers,
        address=address,
        changes=changes,
        total=total,
        fees=fees,
        credit=credit,
        wallet_used=credit_to_use(credit, total + fees) if form.use_wallet.data else 0,
        card_minimum=CARD_MINIMUM_CENTS,
        method_labels=METHOD_LABELS,
        problems=problems,
        chosen={
            k: request.form.get(k)
            for k in request.form
            if k.startswith("fulfilment-") or k.startswith("slot-")
        },
    ), status


def _chosen_fees(offers: list[ShopOffer]) -> int:
    """The delivery fees of the methods chosen so far (a shop's only method counts)."""
    total = 0
    for offer in offers:
        chosen = request.form.get(f"fulfilment-{offer.group.shop.id}")
        if chosen is None and len(offer.options) == 1:
            chosen = offer.options[0].method.value
        total += sum(o.fee_cents or 0 for o in offer.options if o.method.value == chosen)
    return total


def _commune_choices(form: CheckoutForm, groups: list[ops.ShopGroup]) -> None:
    territory_id = groups[0].shop.territory_id if groups else None
    communes = (
        db.session.scalars(
            select(Commune).where(Commune.territory_id == territory_id).order_by(Commune.name)
        ).all()
        if territory_id is not None
        else []
    )
    form.commune.choices = [("", _("— choisissez —"))] + [(str(c.id), c.name) for c in communes]


def _wants_address(form: CheckoutForm, groups: list[ops.ShopGroup]) -> bool:
    """An address was typed, or a chosen method delivers."""
    if any((f.data or "").strip() for f in (form.street, form.postcode, form.commune)):
        return True
    deliveries = {m.value for m in DELIVERIES}
    return any(request.form.get(f"fulfilment-{g.shop.id}") in deliveries for g in groups)


def _address(form: CheckoutForm, groups: list[ops.ShopGroup]) -> DeliveryAddress | None:
    if not groups or not _wants_address(form, groups):
        return None
    return delivery_address(
        groups[0].shop.territory_id,
        form.street.data or "",
        form.postcode.data or "",
        form.commune.data,
    )


def _address_for_page(
    form: CheckoutForm, groups: list[ops.ShopGroup]
) -> tuple[DeliveryAddress | None, dict[str, str]]:
    """The address to show availability for, and what is wrong with it."""
    if not any((f.data or "").strip() for f in (form.street, form.postcode, form.commune)):
        return None, {}
    try:
        return _address(form, groups), {}
    except ops.CheckoutError as exc:
        return None, exc.problems


def _address_errors(form: CheckoutForm, problems: dict[str, str]) -> None:
    for name in ("street", "postcode", "commune"):
        if name in problems:
            getattr(form, name).errors = [problems[name]]


def _prefill(form: CheckoutForm) -> None:
    form.checkout_key.data = str(uuid.uuid4())
    form.name.data = f"{current_user.first_name} {current_user.last_name}"
    form.email.data = current_user.email
    form.phone.data = current_user.phone
    saved = session.get("delivery_address")
    if isinstance(saved, dict):
        form.street.data = str(saved.get("street") or "")
        form.postcode.data = str(saved.get("postcode") or "")
        form.commune.data = str(saved.get("commune") or "")


def _slot(raw: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _place(
    form: CheckoutForm,
    basket_row: Any,
    groups: list[ops.ShopGroup],
    address: DeliveryAddress | None,
) -> Order:
    try:
        key = uuid.UUID(form.checkout_key.data or "")
    except ValueError:
        raise ops.CheckoutError({"basket": _("Formulaire expiré, rechargez la page.")}) from None
    choices = {}
    for group in groups:
        raw = request.form.get(f"fulfilment-{group.shop.id}", "")
        if raw in FulfilmentMethod._value2member_map_:
            choices[group.shop.id] = ShopChoice(
                FulfilmentMethod(raw), _slot(request.form.get(f"slot-{group.shop.id}"))
            )
    contact = ops.Contact(
        form.name.data or "", (form.email.data or "").lower(), form.phone.data or ""
    )
    return ops.place_order(
        current_user,
        basket_row,
        choices,
        contact,
        key,
        address=address,
        use_wallet=bool(form.use_wallet.data),
    )


def _own_order(public_id: uuid.UUID) -> Order:
    order = db.session.scalar(
        select(Order)
        .where(Order.public_id == public_id, Order.user_id == current_user.id)
        .options(
            selectinload(Order.sub_orders).selectinload(SubOrder.lines),
            selectinload(Order.sub_orders).joinedload(SubOrder.shop),
            selectinload(Order.payments),
        )
    )
    if order is None:
        abort(404)  # someone else's order is as absent as a missing one
    return order


@bp.get("/commandes/<uuid:public_id>/paiement")
@login_required
def pay(public_id: uuid.UUID) -> Any:
    order = _own_order(public_id)
    if order.status is not OrderStatus.PENDING_PAYMENT:
        return redirect(url_for("storefront.order_detail", public_id=public_id))
    return render_template(
        "shop/pay.html",
        order=order,
        stripe_js=stripe_js_url(),
        publishable_key=current_app.config["STRIPE_PUBLISHABLE_KEY"],
        local_stripe=current_app.config.get("STRIPE_LOCAL"),
    )


@bp.post("/commandes/<uuid:public_id>/paiement")
@login_required
def confirm_payment(public_id: uuid.UUID) -> Any:
    """Called by the payment page with the card Stripe.js tokenised."""
    order = _own_order(public_id)
    payload = request.get_json(silent=True) or {}
    method_id = payload.get("payment_method")
    if not isinstance(method_id, str) or not method_id.startswith("pm_"):
        return jsonify(
            code=422,
            status="Unprocessable Entity",
            message=_("Carte manquante."),
            errors={"json": {"payment_method": [_("Identifiant de carte attendu (pm_…).")]}},
        ), 422
    try:
        status, error = ops.confirm_card(order, method_id)
    except PaymentError as exc:
        db.session.rollback()
        return jsonify(code=502, status="Bad Gateway", message=str(exc)), 502
    db.session.commit()
    return jsonify(
        status=status,
        error=error,
        client_secret=order.payments[-1].client_secret if status == "requires_action" else None,
        next=url_for("storefront.basket")
        if status == "requires_payment_method"
        else url_for("storefront.order_detail", public_id=public_id),
    )


@bp.get("/commandes")
@login_required
def my_orders() -> str:
    orders = db.session.scalars(
        select(Order)
        .where(Order.user_id == current_user.id)
        .options(selectinload(Order.sub_orders).joinedload(SubOrder.shop))
        .order_by(Order.created_at.desc())
    ).all()
    return render_template("shop/orders.html", orders=orders, method_labels=METHOD_LABELS)


@bp.get("/commandes/<uuid:public_id>")
@login_required
def order_detail(public_id: uuid.UUID) -> str:
    order = _own_order(public_id)
    return render_template(
        "shop/order.html",
        order=order,
        method_labels=METHOD_LABELS,
        tracking=tracking_ops.delivery_tracking(order),
        refunds=refund_ops.succeeded_refunds_by_sub([s.id for s in order.sub_orders]),
    )
