"""The shop's JSON API (flask-smorest): shops, products, search, basket, checkout, orders.

The same operations as the pages (shop.operations), the same rules, the one error
shape of marketplace/errors.py. Shops, products and search are public; the basket,
checkout and orders need a per-user bearer token (marketplace/api_auth.py) and never
read the session cookie, so the blueprint needs no CSRF token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import (
    BadGateway,
    Conflict,
    NotFound,
    UnprocessableEntity,
)

from marketplace.api_auth import api_user, token_endpoint
from marketplace.api_auth import init_app as init_api_auth
from marketplace.api_common import fail, paginate
from marketplace.extensions import MAX_ID, csrf, db
from marketplace.models import Commune, Role, User, utcnow
from marketplace.payments import PaymentError
from merchants.models import Product, ProductStatus, Shop, ShopStatus, Trade

from . import operations as ops
from .models import Order, SubOrder
from .operations import checkout as checkout_ops
from .operations import search as search_ops
from .schemas import (
    BasketLineArgsSchema,
    BasketQuantityArgsSchema,
    BasketSchema,
    CheckoutArgsSchema,
    CheckoutSchema,
    DeliveryOptionsArgsSchema,
    DeliveryOptionsSchema,
    OrderSchema,
    OrderSummarySchema,
    PaymentArgsSchema,
    PaymentResultSchema,
    ProductQueryArgsSchema,
    ProductSchema,
    ProductSummarySchema,
    SearchQueryArgsSchema,
    SearchSchema,
    ShopQueryArgsSchema,
    ShopSchema,
    ShopSummarySchema,
)

blp = Blueprint("shop_api", __name__, url_prefix="/api/v1", description="Storefront and orders")
blp.DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 100}
# Token-authenticated only (no cookie is read), so CSRF does not apply.
csrf.exempt(blp)
# The bearer scheme in the spec, the docs page and the token CLI come with the API.
blp.record_once(lambda state: init_api_auth(state.app))

# The checkout's address problems, named inside the request's "address".
ADDRESS_FIELDS = ("street", "postcode", "commune")
F = TypeVar("F", bound=Callable[..., Any])


# -- Errors: the marketplace's shape, {"code", "status", "message", "errors"} --------


def not_found(what: str) -> NoReturn:
    fail(NotFound, what)


def checkout_failed(exc: ops.CheckoutError) -> NoReturn:
    """A refused operation: the basket's state → 409, a field → 422 naming it."""
    db.session.rollback()
    problems = dict(exc.problems)
    if "basket" in problems:
        fail(Conflict, problems["basket"], {"basket": [problems["basket"]]})
    fields: dict[str, Any] = {}
    for key, message in problems.items():
        if key.startswith("fulfilment-"):
            fields.setdefault("fulfilment", {})[key.removeprefix("fulfilment-")] = [message]
        elif key.startswith("slot-"):
            fields.setdefault("slots", {})[key.removeprefix("slot-")] = [message]
        elif key in ADDRESS_FIELDS:
            fields.setdefault("address", {})[key] = [message]
        elif key == "address":
            fields.setdefault("address", {}).setdefault("_schema", []).append(message)
        else:
            fields[key] = [message]
    if set(fields) == {"quantity"}:
        # The range is checked by the schema: what is left is the stock.
        fail(Conflict, fields["quantity"][0], {"json": fields})
    fail(UnprocessableEntity, "; ".join(problems.values()), {"json": fields})


def authenticated(*roles: Role) -> Callable[[F], F]:
    """A bearer token is needed (checked before the input); documented in the spec."""
    return token_endpoint(blp, *roles)


# -- Shops and products (public) -----------------------------------------------------


def _shop(slug: str) -> Shop:
    shop = search_ops.public_shop(slug)
    if shop is None:
        not_found("Boutique introuvable.")
    return shop


def _commune(slug: str | None) -> Commune | None:
    if slug is None:
        return None
    commune = db.session.scalar(select(Commune).where(Commune.slug == slug))
    if commune is None:
        fail(UnprocessableEntity, "Commune inconnue.", {"query": {"commune": ["Inconnue."]}})
    return commune


def _trade(slug: str | None) -> Trade | None:
    if slug is None:
        return None
    trade = db.session.scalar(select(Trade).where(Trade.slug == slug))
    if trade is None:
        fail(UnprocessableEntity, "Métier inconnu.", {"query": {"trade": ["Inconnu."]}})
    return trade


@blp.route("/shops")
class Shops(MethodView):
    @blp.arguments(ShopQueryArgsSchema, location="query")
    @blp.response(200, ShopSummarySchema(many=True))
    @blp.paginate()
    def get(self, args: Mapping[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """List the territory's shops

        Approved shops by name, with whether each is open now, its next opening and
        the fulfilment methods it offers; filter by commune and trade slugs.
        """
        query = (
            select(Shop)
            .where(Shop.status == ShopStatus.APPROVED)
            .options(
                joinedload(Shop.commune),
                joinedload(Shop.trade),
                selectinload(Shop.hours),
                selectinload(Shop.closures),
            )
        )
        if commune := _commune(args.get("commune")):
            query = query.where(Shop.commune_id == commune.id)
        if trade := _trade(args.get("trade")):
            query = query.where(Shop.trade_id == trade.id)
        return paginate(query.order_by(Shop.name, Shop.id), pagination_parameters)


@blp.route("/shops/<slug>")
class ShopDetail(MethodView):
    @blp.response(200, ShopSchema)
    @blp.alt_response(404, "NOT_FOUND")
    def get(self, slug: str) -> Any:
        """Get a shop

        Its story and advice, opening hours (Europe/Paris) with exceptional closures,
        and each fulfilment method with the earliest time it can be ready.
        """
        return _shop(slug)


@blp.route("/shops/<slug>/products")
class Products(MethodView):
    @blp.arguments(ProductQueryArgsSchema, location="query")
    @blp.response(200, ProductSummarySchema(many=True))
    @blp.alt_response(404, "NOT_FOUND")
    @blp.paginate()
    def get(
        self, args: Mapping[str, Any], slug: str, pagination_parameters: PaginationParameters
    ) -> Any:
        """List a shop's products

        Published products by category and name, with the lowest price TTC in cents
        and whether any variant is in stock.
        """
        shop = _shop(slug)
        query = (
            select(Product)
            .where(Product.shop_id == shop.id, Product.status == ProductStatus.PUBLISHED)
            .options(selectinload(Product.variants))
        )
        if "category" in args:
            query = query.where(Product.category == args["category"])
        # The shop page's order: categories by name, uncategorised last.
        order = (Product.category == "", Product.category, Product.name, Product.id)
        return paginate(query.order_by(*order), pagination_parameters)


@blp.route("/shops/<slug>/products/<product_slug>")
class ProductDetail(MethodView):
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, "NOT_FOUND")
    def get(self, slug: str, product_slug: str) -> Any:
        """Get a product

        Its variants with price TTC in cents, stock state and the most a basket line
        may hold; the VAT rate in basis points.
        """
        product = search_ops.public_product(slug, product_slug)
        if product is None:
            not_found("Produit introuvable.")
        return product


# -- Search (public) -----------------------------------------------------------------


SORTS = {
    "relevance": search_ops.Sort.RELEVANCE,
    "price_asc": search_ops.Sort.PRICE_ASC,
    "price_desc": search_ops.Sort.PRICE_DESC,
    "name": search_ops.Sort.NAME,
}


@blp.route("/search")
class Search(MethodView):
    @blp.arguments(SearchQueryArgsSchema, location="query")
    @blp.response(200, SearchSchema)
    def get(self, args: Mapping[str, Any]) -> Any:
        """Search products and shops

        French full-text over products and shops (stemming, accents ignored, typos
        tolerated), as the search page: a page of products, the matching shops on
        the first page, close names when nothing matched. Filters: commune and trade
        slugs, price range in cents TTC, fulfilment method, open now, in stock.
        """
        params = search_ops.SearchParams(
            q=" ".join(args["q"].split()),
            commune=_commune(args.get("commune")),
            trade=_trade(args.get("trade")),
            price_min_cents=args.get("min_price"),
            price_max_cents=args.get("max_price"),
            method=args.get("fulfilment"),
            open_now=args.get("open_now", False),
            in_stock=args.get("in_stock", False),
            sort=SORTS[args["sort"]],
            page=args["page"],
        )
        result = search_ops.search(params, utcnow())
        return {
            "q": params.q,
            "total": result.total,
            "page": params.page,
            "page_size": search_ops.PAGE_SIZE,
            "pages": result.pages,
            "products": [hit.product for hit in result.products],
            "shops": result.shops,
            "suggestions": result.suggestions,
        }


# -- Basket (token) ------------------------------------------------------------------


def _basket_body(user: User, changes: list[ops.BasketChange] | None = None) -> dict[str, Any]:
    basket = ops.user_basket(user)
    return {
        "shops": ops.group_by_shop(ops.basket_quantities(basket)),
        "changes": ops.basket_changes(basket) if changes is None else changes,
    }


@blp.route("/basket")
class BasketView(MethodView):
    @authenticated()
    @blp.response(200, BasketSchema)
    def get(self) -> Any:
        """Get my basket

        Lines grouped by shop, with subtotals and the fulfilment methods each shop
        offers; lines no longer for sale are left out.
        """
        return _basket_body(api_user())


@blp.route("/basket/review")
class BasketReview(MethodView):
    @authenticated()
    @blp.response(200, BasketSchema)
    def post(self) -> Any:
        """Review my basket's changes

        What the checkout page does before showing the basket: lines no longer for
        sale are removed, quantities above the stock lowered to it, current prices
        recorded as seen. Returns the basket with the changes just applied, to show
        the resident before paying.
        """
        user = api_user()
        changes = ops.acknowledge_changes(ops.user_basket(user))
        db.session.commit()
        return _basket_body(user, changes)


@blp.route("/basket/lines")
class BasketLines(MethodView):
    @authenticated()
    @blp.arguments(BasketLineArgsSchema)
    @blp.response(200, BasketSchema)
    @blp.alt_response(409, "CONFLICT")
    def post(self, args: Mapping[str, Any]) -> Any:
        """Add to my basket

        Adds `quantity` to the line of `variant_id` (created if absent), within the
        stock and 99 per line; returns the basket.
        """
        user = api_user()
        basket = ops.user_basket(user)
        variant_id = args["variant_id"]
        if variant_id > MAX_ID:
            fail(UnprocessableEntity, "Article inconnu.", {"json": {"variant_id": ["Inconnu."]}})
        quantity = ops.basket_quantities(basket).get(variant_id, 0) + args["quantity"]
        if quantity > ops.MAX_QUANTITY:
            message = f"Au plus {ops.MAX_QUANTITY} exemplaires par article."
            fail(UnprocessableEntity, message, {"json": {"quantity": [message]}})
        try:
            ops.set_quantity(basket, variant_id, quantity)
        except ops.CheckoutError as exc:
            checkout_failed(exc)
        db.session.commit()
        return _basket_body(user)


def _variant_id(variant_id: int) -> int:
    if variant_id > MAX_ID:
        not_found("Article introuvable.")
    return variant_id


@blp.route("/basket/lines/<int:variant_id>")
class BasketLine(MethodView):
    @authenticated()
    @blp.arguments(BasketQuantityArgsSchema)
    @blp.response(200, BasketSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def put(self, args: Mapping[str, Any], variant_id: int) -> Any:
        """Set a line's quantity

        The same rules as the basket page: within the stock, at most 99; 0 removes
        the line. Returns the basket.
        """
        user = api_user()
        basket = ops.user_basket(user)
        if not ops.sellable_variants([_variant_id(variant_id)]):
            not_found("Cet article n'est pas en vente.")
        try:
            ops.set_quantity(basket, variant_id, args["quantity"])
        except ops.CheckoutError as exc:
            checkout_failed(exc)
        db.session.commit()
        return _basket_body(user)

    @authenticated()
    @blp.response(200, BasketSchema)
    @blp.alt_response(404, "NOT_FOUND")
    def delete(self, variant_id: int) -> Any:
        """Remove a line

        Returns the basket; 404 when the basket has no such line.
        """
        user = api_user()
        basket = ops.user_basket(user)
        line = next((ln for ln in basket.lines if ln.variant_id == variant_id), None)
        if line is None:
            not_found("Cet article n'est pas dans votre panier.")
        basket.lines.remove(line)  # even if no longer for sale
        db.session.commit()
        return _basket_body(user)


# -- Checkout and payment (token) ----------------------------------------------------


def _own_order(user: User, public_id: uuid.UUID) -> Order:
    order = db.session.scalar(
        select(Order)
        .where(Order.public_id == public_id, Order.user_id == user.id)
        .options(
            selectinload(Order.sub_orders).selectinload(SubOrder.lines),
            selectinload(Order.sub_orders).selectinload(SubOrder.history),
            selectinload(Order.sub_orders).joinedload(SubOrder.shop),
            selectinload(Order.payments),
        )
        .execution_options(populate_existing=True)
    )
    if order is None:
        not_found("Commande introuvable.")  # someone else's is as absent as a missing one
    return order


def _delivery_address(
    user: User, given: Mapping[str, Any] | None
) -> checkout_ops.DeliveryAddress | None:
    """The request's address checked and located as the checkout page does (422
    naming `address.<field>`), or None when none is given or the basket is empty."""
    if not given:
        return None
    groups = ops.group_by_shop(ops.basket_quantities(ops.user_basket(user)))
    if not groups:
        return None
    territory_id = groups[0].shop.territory_id
    commune_id = db.session.scalar(
        select(Commune.id).where(
            Commune.slug == given["commune"], Commune.territory_id == territory_id
        )
    )
    try:
        return checkout_ops.delivery_address(
            territory_id, given["street"], given["postcode"], commune_id
        )
    except ops.CheckoutError as exc:
        checkout_failed(exc)


@blp.route("/checkout/options")
class CheckoutOptions(MethodView):
    @authenticated(Role.RESIDENT)
    @blp.arguments(DeliveryOptionsArgsSchema)
    @blp.response(200, DeliveryOptionsSchema)
    def post(self, args: Mapping[str, Any]) -> Any:
        """List the fulfilment options of my basket

        What the checkout page shows for an address: per shop of the basket, every
        method it offers, whether it is available now and why not, the earliest
        time (and the standard window's end), the express slots to choose from and
        the fee in cents TTC. Without an address no delivery is available. A POST
        so the address never lands in a URL (logs, history); nothing is written.
        """
        user = api_user()
        address = _delivery_address(user, args.get("address"))
        groups = ops.group_by_shop(ops.basket_quantities(ops.user_basket(user)))
        offers = checkout_ops.shop_offers(groups, address)
        db.session.commit()  # keeps the address's geocoding in the cache, as the page
        return {"address": address, "shops": offers}


@blp.route("/checkout")
class Checkout(MethodView):
    @authenticated(Role.RESIDENT)
    @blp.arguments(CheckoutArgsSchema)
    @blp.response(201, CheckoutSchema)
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(502, "BAD_GATEWAY")
    def post(self, args: Mapping[str, Any]) -> Any:
        """Place an order from my basket

        One order, one sub-order per shop with the fulfilment method chosen for it,
        stock reserved, one PaymentIntent whose client secret is returned. Sending
        the same `checkout_key` again returns the same order. Deliveries need the
        `address`; express needs a slot of POST /checkout/options in `slots`. Each
        sub-order carries its delivery fee, included in the total. A method the
        shop does not offer, an address outside its zone or radius, a slot no
        longer offered: 422 naming `fulfilment.<shop id>`, `address.<field>` or
        `slots.<shop id>`. With `use_wallet`, my wallet credit pays what it can and
        the PaymentIntent is for the rest (`card_cents`); when the credit pays it all
        the order is paid at once and `client_secret` is null.
        """
        user = api_user()
        key: uuid.UUID = args["checkout_key"]
        contact = args["contact"]
        slots = args.get("slots") or {}
        choices = {
            shop_id: checkout_ops.ShopChoice(method, slots.get(shop_id))
            for shop_id, method in args["fulfilment"].items()
        }
        try:
            order = ops.place_order(
                user,
                ops.user_basket(user),
                choices,
                ops.Contact(contact["name"].strip(), contact["email"].lower(), contact["phone"]),
                key,
                address=_delivery_address(user, args.get("address")),
                use_wallet=args["use_wallet"],
            )
            db.session.commit()
        except ops.CheckoutError as exc:
            checkout_failed(exc)
        except PaymentError as exc:
            db.session.rollback()
            fail(BadGateway, str(exc))
        except IntegrityError:
            # The same key submitted twice at once: the other request placed it.
            db.session.rollback()
            existing = db.session.scalar(
                select(Order).where(Order.checkout_key == key, Order.user_id == user.id)
            )
            if existing is None:
                raise
            order = existing
        order = _own_order(user, order.public_id)
        return {
            "order": order,
            "client_secret": order.payments[-1].client_secret or None,
            "publishable_key": current_app.config["STRIPE_PUBLISHABLE_KEY"],
        }


# -- Orders (token) ------------------------------------------------------------------


@blp.route("/orders")
class Orders(MethodView):
    @authenticated()
    @blp.response(200, OrderSummarySchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> Any:
        """List my orders

        Newest first, each with its status and its sub-orders' status per shop.
        """
        query = (
            select(Order)
            .where(Order.user_id == api_user().id)
            .options(selectinload(Order.sub_orders).joinedload(SubOrder.shop))
            .order_by(Order.created_at.desc(), Order.id.desc())
        )
        return paginate(query, pagination_parameters)


@blp.route("/orders/<uuid:order_id>")
class OrderDetail(MethodView):
    @authenticated()
    @blp.response(200, OrderSchema)
    @blp.alt_response(404, "NOT_FOUND")
    def get(self, order_id: uuid.UUID) -> Any:
        """Get one of my orders

        With the live status, lines, history and pickup code of each sub-order.
        Another resident's order is not found (404).
        """
        return _own_order(api_user(), order_id)


@blp.route("/orders/<uuid:order_id>/payment")
class OrderPayment(MethodView):
    @authenticated()
    @blp.arguments(PaymentArgsSchema)
    @blp.response(200, PaymentResultSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(502, "BAD_GATEWAY")
    def post(self, args: Mapping[str, Any], order_id: uuid.UUID) -> Any:
        """Pay an order with a card

        Confirms the order's PaymentIntent with the PaymentMethod Stripe.js made for
        the card, as the payment page does. `requires_action` comes with the client
        secret for 3-D Secure. The order becomes paid when Stripe's signed webhook
        says so: poll the order.
        """
        order = _own_order(api_user(), order_id)
        try:
            status, error = ops.confirm_card(order, args["payment_method"])
        except PaymentError as exc:
            db.session.rollback()
            fail(BadGateway, str(exc))
        db.session.commit()
        return {
            "status": status,
            "error": error,
            "client_secret": order.payments[-1].client_secret
            if status == "requires_action"
            else None,
        }


__all__ = ["blp"]
