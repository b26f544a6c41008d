"""marshmallow schemas of the shop's API.

`XQueryArgsSchema` are query strings, `XArgsSchema` request bodies, `XSchema`
responses. Money is integer cents (TTC), VAT rates basis points (2000 = 20 %), times
ISO 8601 in UTC; opening hours are wall-clock times in Europe/Paris.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from delivery.operations import available_methods, earliest_ready
from marketplace.models import FulfilmentMethod, utcnow
from merchants.models import Shop
from merchants.operations import PARIS, is_open, next_open_moment

from .models import OrderStatus, PaymentStatus, SubOrder, SubOrderStatus
from .operations import MAX_QUANTITY
from .operations import max_quantity as orderable_quantity
from .operations.search import (
    MAX_PRICE_CENTS,
    MAX_QUERY_LENGTH,
    PAGE_SIZE,
    StockState,
    min_price_cents,
    product_stock_state,
    variant_stock_state,
)

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,199}$", error="Identifiant (slug) invalide.")
PHONE = validate.Regexp(
    r"^\+?[0-9 .\-]{10,20}$", error="Numéro invalide (exemple : 06 12 34 56 78)."
)
# Statuses in which the pickup code is useful to the resident.
PICKUP_CODE_STATUSES = {
    SubOrderStatus.PAID,
    SubOrderStatus.ACCEPTED,
    SubOrderStatus.PREPARING,
    SubOrderStatus.READY,
}


class UTCDateTime(fields.DateTime):
    """An ISO 8601 timestamp, always written in UTC."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class _Computed:
    """A dump-only field whose value is `func(obj)` instead of an attribute."""

    def __init__(self, func: Callable[[Any], Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        super().__init__(*args, dump_only=True, **kwargs)  # type: ignore[call-arg]

    def get_value(self, obj: Any, attr: Any, accessor: Any = None, default: Any = None) -> Any:
        return self.func(obj)


class ComputedDateTime(_Computed, UTCDateTime):
    pass


class ComputedBoolean(_Computed, fields.Boolean):
    pass


class ComputedInteger(_Computed, fields.Integer):
    pass


class ComputedString(_Computed, fields.String):
    pass


class ComputedFloat(_Computed, fields.Float):
    pass


class ComputedList(_Computed, fields.List):
    pass


class ComputedNested(_Computed, fields.Nested):
    pass


def _enum(enum_cls: Any, **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, **kwargs)


STOCK_STATE_HELP = (
    "in_stock; few_left (5 or fewer); made_to_order (none ready, made when ordered); sold_out"
)
SEARCH_SORTS = ("relevance", "price_asc", "price_desc", "name")


# -- Query strings -------------------------------------------------------------------


class ShopQueryArgsSchema(Schema):
    commune = fields.String(validate=SLUG, metadata={"description": "Commune slug"})
    trade = fields.String(validate=SLUG, metadata={"description": "Trade slug"})


class ProductQueryArgsSchema(Schema):
    category = fields.String(
        validate=validate.Length(max=100), metadata={"description": "Only this category"}
    )


class SearchQueryArgsSchema(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_QUERY_LENGTH),
        metadata={"description": "Words to look for; empty lists every product"},
    )
    commune = fields.String(validate=SLUG, metadata={"description": "Commune slug"})
    trade = fields.String(validate=SLUG, metadata={"description": "Trade slug"})
    min_price = fields.Integer(
        validate=validate.Range(0, MAX_PRICE_CENTS), metadata={"description": "Cents TTC"}
    )
    max_price = fields.Integer(
        validate=validate.Range(0, MAX_PRICE_CENTS), metadata={"description": "Cents TTC"}
    )
    fulfilment = _enum(FulfilmentMethod, metadata={"description": "Offered by the shop"})
    open_now = fields.Boolean(metadata={"description": "Only shops open now"})
    in_stock = fields.Boolean(metadata={"description": "Only products in stock"})
    sort = fields.String(load_default="relevance", validate=validate.OneOf(SEARCH_SORTS))
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(1, 9_999),
        metadata={"description": f"Page of {PAGE_SIZE} products"},
    )

    @validates_schema
    def _price_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("Doit être supérieur ou égal à min_price.", "max_price")


# -- Shops and products --------------------------------------------------------------


class CommuneSchema(Schema):
    slug = fields.String()
    name = fields.String()
    insee_code = fields.String()


class TradeSchema(Schema):
    slug = fields.String()
    name_fr = fields.String()
    name_en = fields.String()


class ShopRefSchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()


class ShopSummarySchema(ShopRefSchema):
    tagline = fields.String()
    commune = fields.Nested(CommuneSchema)
    trade = fields.Nested(TradeSchema)
    latitude = fields.Float()
    longitude = fields.Float()
    fulfilment_methods = ComputedList(
        available_methods,
        _enum(FulfilmentMethod),
        metadata={"description": "Methods a resident can choose for this shop"},
    )
    open_now = ComputedBoolean(lambda shop: is_open(shop, utcnow()))
    next_opening = ComputedDateTime(
        lambda shop: next_open_moment(shop, utcnow()),
        allow_none=True,
        metadata={"description": "Now when open, else the start of the next opening"},
    )


class OpeningHoursSchema(Schema):
    weekday = fields.Integer(metadata={"description": "0 = Monday … 6 = Sunday"})
    opens_at = fields.Time(metadata={"description": "Europe/Paris wall-clock time"})
    closes_at = fields.Time(metadata={"description": "Europe/Paris wall-clock time"})


class ClosureSchema(Schema):
    starts_on = fields.Date()
    ends_on = fields.Date(metadata={"description": "Inclusive"})
    reason = fields.String()


class FulfilmentOptionSchema(Schema):
    method = _enum(FulfilmentMethod)
    earliest_ready = UTCDateTime(
        allow_none=True,
        metadata={"description": "If paid now; null when not within the next weeks"},
    )


def _closures_to_come(shop: Shop) -> list[Any]:
    today = utcnow().astimezone(PARIS).date()
    return [c for c in shop.closures if c.ends_on >= today]


def _fulfilment_options(shop: Shop) -> list[dict[str, Any]]:
    now = utcnow()
    options = []
    for method in available_methods(shop):
        try:
            ready = earliest_ready(shop, method, now)
        except NotImplementedError:
            ready = None
        options.append({"method": method, "earliest_ready": ready})
    return options


class ShopSchema(ShopSummarySchema):
    story = fields.String()
    advice = fields.String()
    street = fields.String()
    postcode = fields.String()
    phone = fields.String(allow_none=True)
    hours = fields.List(fields.Nested(OpeningHoursSchema))
    closures = ComputedNested(
        _closures_to_come,
        ClosureSchema,
        many=True,
        metadata={"description": "Exceptional closures, current and to come"},
    )
    fulfilment = ComputedNested(
        _fulfilment_options,
        FulfilmentOptionSchema,
        many=True,
        metadata={"description": "Methods offered and when each can be ready"},
    )


class VariantSchema(Schema):
    id = fields.Integer()
    sku = fields.String()
    label = fields.String()
    options = fields.Dict(keys=fields.String(), values=fields.String())
    price_cents = fields.Integer(metadata={"description": "Price TTC in cents"})
    stock_state = ComputedString(
        lambda v: variant_stock_state(v).value,
        validate=validate.OneOf([s.value for s in StockState]),
        metadata={"description": STOCK_STATE_HELP},
    )
    max_quantity = ComputedInteger(
        orderable_quantity,
        metadata={"description": "The most a basket line may hold now"},
    )


class ProductSummarySchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    category = fields.String()
    vat_rate_bp = fields.Integer(metadata={"description": "VAT rate, 2000 = 20 %"})
    merchant_pick = fields.Boolean(metadata={"description": "The merchant's favourite"})
    price_cents = ComputedInteger(
        min_price_cents,
        allow_none=True,
        metadata={"description": "Lowest variant price TTC in cents"},
    )
    stock_state = ComputedString(
        lambda p: product_stock_state(p).value,
        validate=validate.OneOf([s.value for s in StockState]),
        metadata={"description": STOCK_STATE_HELP + " (all variants together)"},
    )


class ProductSchema(ProductSummarySchema):
    description = fields.String()
    shop = fields.Nested(ShopRefSchema)
    variants = fields.List(fields.Nested(VariantSchema))


class ProductHitSchema(ProductSummarySchema):
    shop = fields.Nested(ShopRefSchema)


class SearchSchema(Schema):
    q = fields.String()
    total = fields.Integer(metadata={"description": "Products matching, all pages"})
    page = fields.Integer()
    page_size = fields.Integer()
    pages = fields.Integer()
    products = fields.List(fields.Nested(ProductHitSchema))
    shops = fields.List(
        fields.Nested(ShopSummarySchema),
        metadata={"description": "Shops matching the words (first page only)"},
    )
    suggestions = fields.List(
        fields.String(), metadata={"description": "Close names when nothing matched"}
    )


# -- Basket --------------------------------------------------------------------------


class BasketLineArgsSchema(Schema):
    variant_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_QUANTITY),
        metadata={"description": "Added to what the basket already holds"},
    )


class BasketQuantityArgsSchema(Schema):
    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(0, MAX_QUANTITY),
        metadata={"description": "The line's new quantity; 0 removes it"},
    )


class BasketItemSchema(Schema):
    variant_id = ComputedInteger(lambda i: i.variant.id)
    product_id = ComputedInteger(lambda i: i.variant.product.id)
    product_slug = ComputedString(lambda i: i.variant.product.slug)
    product_name = ComputedString(lambda i: i.variant.product.name)
    variant_label = ComputedString(lambda i: i.variant.label)
    sku = ComputedString(lambda i: i.variant.sku)
    unit_price_cents = ComputedInteger(lambda i: i.variant.price_cents)
    vat_rate_bp = ComputedInteger(lambda i: i.variant.product.vat_rate_bp)
    quantity = fields.Integer()
    total_cents = fields.Integer()
    max_quantity = ComputedInteger(lambda i: orderable_quantity(i.variant))


class BasketShopSchema(Schema):
    shop = fields.Nested(ShopRefSchema)
    items = fields.List(fields.Nested(BasketItemSchema))
    subtotal_cents = fields.Integer()
    fulfilment_methods = ComputedList(
        lambda group: available_methods(group.shop),
        _enum(FulfilmentMethod),
        metadata={"description": "Methods the resident may choose at checkout"},
    )


class BasketChangeSchema(Schema):
    product_name = fields.String()
    old_price_cents = fields.Integer(allow_none=True, metadata={"description": "As last seen"})
    new_price_cents = fields.Integer(
        allow_none=True, metadata={"description": "Now; null when no longer for sale"}
    )
    available = fields.Integer(
        allow_none=True, metadata={"description": "Set when the stock no longer covers the line"}
    )


class BasketSchema(Schema):
    shops = fields.List(fields.Nested(BasketShopSchema))
    changes = fields.List(
        fields.Nested(BasketChangeSchema),
        metadata={
            "description": "Price, stock or sale changes since the lines were last seen: "
            "checkout is refused (409) until they are reviewed (POST /basket/review)"
        },
    )
    total_cents = ComputedInteger(lambda groups: sum(g.subtotal_cents for g in groups["shops"]))
    item_count = ComputedInteger(
        lambda groups: sum(i.quantity for g in groups["shops"] for i in g.items)
    )


# -- Checkout and payment ------------------------------------------------------------


class ContactArgsSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = fields.String(required=True, validate=PHONE)


class AddressArgsSchema(Schema):
    street = fields.String(
        required=True,
        validate=validate.Length(max=200),
        metadata={"description": "Number and street", "example": "3 rue du Marché"},
    )
    postcode = fields.String(
        required=True, validate=validate.Length(max=10), metadata={"example": "47200"}
    )
    commune = fields.String(
        required=True,
        validate=SLUG,
        metadata={"description": "Slug of a commune of the shops' territory"},
    )


ADDRESS_HELP = "Where the deliveries go; needed when a shop's method is a delivery"


class DeliveryOptionsArgsSchema(Schema):
    address = fields.Nested(
        AddressArgsSchema,
        allow_none=True,
        metadata={"description": ADDRESS_HELP + "; without it no delivery is available"},
    )


class CheckoutArgsSchema(Schema):
    checkout_key = fields.UUID(
        required=True,
        metadata={"description": "A UUID the client makes once per checkout: resent, same order"},
    )
    contact = fields.Nested(ContactArgsSchema, required=True)
    fulfilment = fields.Dict(
        keys=fields.Integer(strict=False),
        values=_enum(FulfilmentMethod),
        required=True,
        metadata={"description": "Shop id → fulfilment method, one per shop in the basket"},
    )
    address = fields.Nested(
        AddressArgsSchema, allow_none=True, metadata={"description": ADDRESS_HELP}
    )
    slots = fields.Dict(
        keys=fields.Integer(strict=False),
        values=fields.AwareDateTime(),
        metadata={
            "description": "Shop id → start of the express slot chosen among those "
            "POST /checkout/options lists (ISO 8601 with its offset)"
        },
    )
    use_wallet = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Pay what my wallet credit can (the card pays the rest; "
            "ignored when I have no credit)"
        },
    )


class SlotSchema(Schema):
    start = UTCDateTime()
    end = UTCDateTime()


class DeliveryChoiceSchema(Schema):
    method = _enum(FulfilmentMethod)
    available = ComputedBoolean(lambda option: option.availability.available)
    reason = ComputedString(
        lambda option: option.availability.reason,
        allow_none=True,
        metadata={"description": "Why not, for the resident, when not available"},
    )
    earliest = ComputedDateTime(
        lambda option: option.availability.earliest,
        allow_none=True,
        metadata={"description": "Ready (click-and-collect) or delivered, at the earliest"},
    )
    latest = ComputedDateTime(
        lambda option: option.availability.latest,
        allow_none=True,
        metadata={"description": "Standard delivery: the end of the expected window"},
    )
    slots = ComputedNested(
        lambda option: option.availability.slots,
        SlotSchema,
        many=True,
        metadata={"description": "Express: the slots to choose from, earliest first"},
    )
    approximate = ComputedBoolean(
        lambda option: option.availability.approximate,
        metadata={"description": "Only the commune's point is known: an indicative answer"},
    )
    fee_cents = fields.Integer(
        allow_none=True, metadata={"description": "Delivery fee TTC; null when not available"}
    )


class ShopDeliveryOptionsSchema(Schema):
    shop = ComputedNested(lambda offer: offer.group.shop, ShopRefSchema)
    subtotal_cents = ComputedInteger(lambda offer: offer.group.subtotal_cents)
    weight_grams = fields.Integer(metadata={"description": "The parcel, for standard delivery"})
    options = fields.List(
        fields.Nested(DeliveryChoiceSchema),
        metadata={"description": "Every method the shop offers, available or not"},
    )


class DeliveryAddressSchema(Schema):
    text = fields.String()
    latitude = ComputedFloat(lambda address: address.point.latitude)
    longitude = ComputedFloat(lambda address: address.point.longitude)
    approximate = ComputedBoolean(
        lambda address: address.point.approximate,
        metadata={"description": "Located at the commune's centre: availability is indicative"},
    )


class DeliveryOptionsSchema(Schema):
    address = fields.Nested(DeliveryAddressSchema, allow_none=True)
    shops = fields.List(fields.Nested(ShopDeliveryOptionsSchema))


class PaymentArgsSchema(Schema):
    payment_method = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^pm_[A-Za-z0-9_]{1,250}$", error="Identifiant de carte attendu (pm_…)."
        ),
        metadata={"description": "The PaymentMethod Stripe.js created for the card"},
    )


class PaymentResultSchema(Schema):
    status = fields.String(
        metadata={"description": "PaymentIntent status: succeeded, requires_action…"}
    )
    error = fields.String(allow_none=True, metadata={"description": "Why the card failed"})
    client_secret = fields.String(
        allow_none=True, metadata={"description": "For Stripe.js when 3-D Secure is needed"}
    )


# -- Orders --------------------------------------------------------------------------


class OrderLineSchema(Schema):
    variant_id = fields.Integer(allow_none=True)
    product_name = fields.String()
    variant_label = fields.String()
    sku = fields.String()
    unit_price_cents = fields.Integer()
    vat_rate_bp = fields.Integer()
    quantity = fields.Integer()
    total_cents = fields.Integer()


class SubOrderEventSchema(Schema):
    from_status = _enum(SubOrderStatus, allow_none=True)
    to_status = _enum(SubOrderStatus)
    at = UTCDateTime()


def _pickup_code(sub: SubOrder) -> str | None:
    return sub.pickup_code if sub.status in PICKUP_CODE_STATUSES else None


class SubOrderSummarySchema(Schema):
    reference = fields.String()
    shop = fields.Nested(ShopRefSchema)
    status = _enum(SubOrderStatus)
    fulfilment_method = _enum(FulfilmentMethod)
    total_cents = fields.Integer()


class SubOrderSchema(SubOrderSummarySchema):
    items_cents = fields.Integer()
    delivery_fee_cents = fields.Integer()
    ready_not_before = UTCDateTime(allow_none=True)
    delivery_address = fields.String(allow_none=True)
    delivery_slot_start = UTCDateTime(allow_none=True, metadata={"description": "Express"})
    delivery_slot_end = UTCDateTime(allow_none=True, metadata={"description": "Express"})
    expected_from = UTCDateTime(
        allow_none=True, metadata={"description": "Ready or delivered, at the earliest"}
    )
    expected_until = UTCDateTime(
        allow_none=True, metadata={"description": "Express slot end, standard window end"}
    )
    pickup_code = ComputedString(
        _pickup_code,
        allow_none=True,
        metadata={"description": "Shown at the shop; null until paid"},
    )
    lines = fields.List(fields.Nested(OrderLineSchema))
    history = fields.List(fields.Nested(SubOrderEventSchema))


class OrderSummarySchema(Schema):
    id = fields.UUID(attribute="public_id")
    status = _enum(OrderStatus)
    total_cents = fields.Integer()
    wallet_cents = fields.Integer(metadata={"description": "Paid with my wallet credit"})
    card_cents = fields.Integer(
        metadata={"description": "Paid (or to pay) by card: total less wallet credit"}
    )
    created_at = UTCDateTime()
    paid_at = UTCDateTime(allow_none=True)
    sub_orders = fields.List(fields.Nested(SubOrderSummarySchema))


class ContactSchema(Schema):
    name = fields.String(attribute="contact_name")
    email = fields.String(attribute="contact_email")
    phone = fields.String(attribute="contact_phone")


class OrderSchema(OrderSummarySchema):
    contact = ComputedNested(lambda order: order, ContactSchema)
    payment_status = ComputedString(
        lambda order: order.payments[-1].status.value if order.payments else None,
        allow_none=True,
        validate=validate.OneOf([s.value for s in PaymentStatus]),
    )
    sub_orders = fields.List(fields.Nested(SubOrderSchema))


class CheckoutSchema(Schema):
    order = fields.Nested(OrderSchema)
    client_secret = fields.String(
        allow_none=True,
        metadata={
            "description": "The PaymentIntent's client secret, for Stripe.js; null when "
            "the wallet credit paid everything (the order is paid, no card step)"
        },
    )
    publishable_key = fields.String(metadata={"description": "Stripe publishable key"})
