"""Storefront pages: territory home, shop, basket, checkout, the resident's orders."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, user_logged_in
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.wrappers import Response

from delivery.operations import available_methods
from marketplace.extensions import db
from marketplace.models import Commune, FulfilmentMethod, Role, Territory, utcnow
from marketplace.payments import PaymentError, stripe_js_url
from marketplace.security import role_required
from merchants.models import Product, ProductStatus, Shop, ShopStatus
from merchants.operations import is_open, next_open_moment, staff_shop_ids

from . import operations as ops
from .forms import AddToBasketForm, CheckoutForm
from .models import Order, SubOrder, SubOrderStatus

bp = Blueprint(
    "storefront",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/shop-static",
)

METHOD_LABELS = {
    FulfilmentMethod.CLICK_AND_COLLECT: _l("Retrait en boutique"),
    FulfilmentMethod.EXPRESS: _l("Livraison express"),
    FulfilmentMethod.STANDARD: _l("Livraison standard"),
    FulfilmentMethod.MERCHANT_DELIVERY: _l("Livraison par la boutique"),
}
STATUS_LABELS = {
    SubOrderStatus.PENDING_PAYMENT: _l("En attente de paiement"),
    SubOrderStatus.PAID: _l("Payée"),
    SubOrderStatus.ACCEPTED: _l("Acceptée"),
    SubOrderStatus.PREPARING: _l("En préparation"),
    SubOrderStatus.READY: _l("Prête à retirer"),
    SubOrderStatus.COLLECTED: _l("Retirée"),
    SubOrderStatus.REFUSED: _l("Refusée"),
    SubOrderStatus.CANCELLED: _l("Annulée"),
    SubOrderStatus.REFUNDED: _l("Remboursée"),
}


def current_territory() -> Territory | None:
    return db.session.scalar(select(Territory).order_by(Territory.id).limit(1))


@bp.get("/")
def home() -> str:
    """Shops first, grouped by commune."""
    territory = current_territory()
    shops = db.session.scalars(
        select(Shop)
        .where(Shop.status == ShopStatus.APPROVED)
        .options(
            joinedload(Shop.commune),
            joinedload(Shop.trade),
            selectinload(Shop.hours),
            selectinload(Shop.closures),
        )
        .order_by(Shop.name)
    ).all()
    by_commune: dict[Commune, list[Shop]] = defaultdict(list)
    for shop in shops:
        by_commune[shop.commune].append(shop)
    communes = sorted(by_commune, key=lambda c: (-len(by_commune[c]), c.name))
    now = utcnow()
    return render_template(
        "shop/home.html",
        territory=territory,
        communes=communes,
        by_commune=by_commune,
        open_now={s.id: is_open(s, now) for s in shops},
        next_opening={s.id: next_open_moment(s, now) for s in shops},
        method_labels=METHOD_LABELS,
    )


@bp.get("/boutiques/<slug>")
def shop_page(slug: str) -> str:
    shop = db.session.scalar(
        select(Shop)
        .where(Shop.slug == slug, Shop.status == ShopStatus.APPROVED)
        .options(
            joinedload(Shop.commune),
            joinedload(Shop.trade),
            selectinload(Shop.hours),
            selectinload(Shop.closures),
        )
    )
    if shop is None:
        abort(404)
    products = db.session.scalars(
        select(Product)
        .where(Product.shop_id == shop.id, Product.status == ProductStatus.PUBLISHED)
        .options(selectinload(Product.variants))
        .order_by(Product.category, Product.name)
    ).all()
    now = utcnow()
    return render_template(
        "shop/shop.html",
        shop=shop,
        products=products,
        is_open=is_open(shop, now),
        next_opening=next_open_moment(shop, now),
        methods=[METHOD_LABELS[m] for m in available_methods(shop)],
        form=AddToBasketForm(),
    )


# --- Basket: in the session until log-in, then in the database ------------------


def _session_quantities() -> dict[int, int]:
    raw = session.get("basket") or {}
    return {int(k): int(v) for k, v in raw.items() if str(k).isdigit()}


def _quantities() -> dict[int, int]:
    if current_user.is_authenticated:
        return ops.basket_quantities(ops.user_basket(current_user))
    return _session_quantities()


@bp.get("/panier")
def basket() -> str:
    groups = ops.group_by_shop(_quantities())
    return render_template(
        "shop/basket.html",
        groups=groups,
        total=sum(g.subtotal_cents for g in groups),
        methods={g.shop.id: available_methods(g.shop) for g in groups},
        method_labels=METHOD_LABELS,
        form=AddToBasketForm(),
    )


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
    quantities = _session_quantities()
    if adding:
        quantity += quantities.get(variant_id, 0)
    # Same rules as the stored basket: validated by the operation on a scratch row.
    variant = ops.sellable_variants([variant_id]).get(variant_id)
    if variant is None:
        raise ops.CheckoutError({"variant_id": _("Ce produit n'est pas en vente.")})
    if quantity > min(variant.stock, ops.MAX_QUANTITY):
        raise ops.CheckoutError(
            {"quantity": _("Il ne reste que %(n)d exemplaire(s).", n=variant.stock)}
        )
    if quantity <= 0:
        quantities.pop(variant_id, None)
    else:
        quantities[variant_id] = quantity
    session["basket"] = {str(k): v for k, v in quantities.items()}


def _merge_session_basket(_app: Flask, user: Any) -> None:
    extra = _session_quantities()
    if not extra:
        return
    ops.merge_quantities(ops.user_basket(user), extra)
    db.session.commit()
    session.pop("basket", None)


# --- Checkout and payment ---------------------------------------------------------


@bp.route("/commande", methods=["GET", "POST"])
@role_required(Role.RESIDENT)
def checkout() -> Any:
    basket_row = ops.user_basket(current_user)
    groups = ops.group_by_shop(ops.basket_quantities(basket_row))
    form = CheckoutForm()
    if request.method == "GET":
        form.checkout_key.data = str(uuid.uuid4())
        form.name.data = f"{current_user.first_name} {current_user.last_name}"
        form.email.data = current_user.email
        form.phone.data = current_user.phone
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            order = _place(form, basket_row, groups)
        except ops.CheckoutError as exc:
            db.session.rollback()
            problems = exc.problems
        except PaymentError as exc:
            db.session.rollback()
            problems = {"basket": str(exc)}
        else:
            db.session.commit()
            return redirect(url_for("storefront.pay", public_id=order.public_id))
        groups = ops.group_by_shop(ops.basket_quantities(ops.user_basket(current_user)))
    if not groups and request.method == "GET":
        flash(_("Votre panier est vide."), "info")
        return redirect(url_for("storefront.basket"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "shop/checkout.html",
        form=form,
        groups=groups,
        total=sum(g.subtotal_cents for g in groups),
        methods={g.shop.id: available_methods(g.shop) for g in groups},
        method_labels=METHOD_LABELS,
        problems=problems,
        chosen={k: request.form.get(k) for k in request.form if k.startswith("fulfilment-")},
    ), status


def _place(form: CheckoutForm, basket_row: Any, groups: list[ops.ShopGroup]) -> Order:
    try:
        key = uuid.UUID(form.checkout_key.data or "")
    except ValueError:
        raise ops.CheckoutError({"basket": _("Formulaire expiré, rechargez la page.")}) from None
    choices = {}
    for group in groups:
        raw = request.form.get(f"fulfilment-{group.shop.id}", "")
        if raw in FulfilmentMethod._value2member_map_:
            choices[group.shop.id] = FulfilmentMethod(raw)
    contact = ops.Contact(
        form.name.data or "", (form.email.data or "").lower(), form.phone.data or ""
    )
    return ops.place_order(current_user, basket_row, choices, contact, key)


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
    if order.status.value != "pending_payment":
        return redirect(url_for("storefront.order_detail", public_id=public_id))
    from flask import current_app

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
        next=url_for("storefront.order_detail", public_id=public_id),
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
    return render_template("shop/order.html", order=order, method_labels=METHOD_LABELS)


def init_app(app: Flask) -> None:
    user_logged_in.connect(_merge_session_basket, app)
    app.jinja_env.filters["sub_order_status"] = lambda status: STATUS_LABELS[status]

    @app.context_processor
    def basket_globals() -> dict[str, Any]:
        if request.blueprint in (None, "static") or request.path.startswith("/api/"):
            return {}
        territory = current_territory()
        count = sum(_session_quantities().values())
        if current_user.is_authenticated:
            count = sum(
                db.session.scalars(
                    select(ops.BasketLine.quantity)
                    .join(ops.Basket)
                    .where(ops.Basket.user_id == current_user.id)
                )
            )
        return {"basket_count": count, "territory_name": territory.name if territory else None}


# --- The shop staff's view of their sub-orders ------------------------------------

staff_bp = Blueprint("shop_orders", __name__, url_prefix="/boutique/commandes")


@staff_bp.get("/")
@role_required(Role.MERCHANT)
def queue() -> str:
    """The sub-orders of the shops this account works for, newest first."""
    shop_ids = staff_shop_ids(current_user)
    subs = db.session.scalars(
        select(SubOrder)
        .where(SubOrder.shop_id.in_(shop_ids), SubOrder.status != SubOrderStatus.PENDING_PAYMENT)
        .options(
            selectinload(SubOrder.lines),
            joinedload(SubOrder.order),
            joinedload(SubOrder.shop),
        )
        .order_by(SubOrder.created_at.desc())
        .limit(200)
    ).all()
    return render_template("shop/staff_queue.html", subs=subs, method_labels=METHOD_LABELS)
