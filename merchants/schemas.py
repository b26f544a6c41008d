"""marshmallow schemas of the merchant API (catalogue, stock, import, export).

`XQueryArgsSchema` are query strings, `XArgsSchema` request bodies, `XSchema`
responses. Money is integer cents (TTC), VAT rates basis points (2000 = 20 %), times
ISO 8601 in UTC. The schemas check types only: the values go through the catalogue's
own parsers (merchants.operations.catalogue), which name each bad field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from .models import VAT_RATES_BP, ImportStatus, ProductStatus, ShopStatus, StaffRole
from .operations import catalogue as cat

MAX_STOCK_ITEMS = 1_000  # one bulk stock call


class UTCDateTime(fields.DateTime):
    """An ISO 8601 timestamp, always written in UTC."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class ComputedBoolean(fields.Boolean):
    """A dump-only boolean whose value is `func(obj)` instead of an attribute."""

    def __init__(self, func: Callable[[Any], Any], **kwargs: Any) -> None:
        self.func = func
        super().__init__(dump_only=True, **kwargs)

    def get_value(self, obj: Any, attr: Any, accessor: Any = None, default: Any = None) -> Any:
        return self.func(obj)


def _enum(enum_cls: Any, **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, **kwargs)


# -- Query strings -------------------------------------------------------------------


class MerchantProductQueryArgsSchema(Schema):
    status = _enum(ProductStatus, metadata={"description": "Only products in this status"})
    category = fields.String(
        validate=validate.Length(max=cat.CATEGORY_MAX), metadata={"description": "Exact category"}
    )
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "In the name, the category, a SKU; or an exact EAN"},
    )


class ExportQueryArgsSchema(Schema):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(("csv", "xlsx")),
        metadata={"description": "csv (UTF-8, `;`) or xlsx: the import's own format"},
    )


# -- The account's shops -------------------------------------------------------------------


class MerchantShopSchema(Schema):
    id = fields.Integer(attribute="shop.id")
    slug = fields.String(attribute="shop.slug")
    name = fields.String(attribute="shop.name")
    status = _enum(
        ShopStatus,
        attribute="shop.status",
        metadata={"description": "pending until the collectivité approves the shop"},
    )
    role = _enum(StaffRole, metadata={"description": "The account's role in the shop"})


# -- Catalogue bodies ------------------------------------------------------------------


class MerchantVariantArgsSchema(Schema):
    sku = fields.String(
        required=True, metadata={"description": "Reference, unique in the shop (64 characters)"}
    )
    price_cents = fields.Integer(
        strict=True, metadata={"description": "Price TTC in cents; required for a new variant"}
    )
    stock = fields.Integer(strict=True, metadata={"description": "Units in stock, ≥ 0"})
    made_to_order = fields.Boolean(metadata={"description": "Made on demand: no stock bound"})
    ean = fields.String(allow_none=True, metadata={"description": "EAN-13, EAN-8, UPC or GTIN"})
    weight_grams = fields.Integer(strict=True, allow_none=True, metadata={"description": "Grams"})
    options = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": 'Up to three options, e.g. {"taille": "M"}'},
    )


class MerchantProductPatchArgsSchema(Schema):
    name = fields.String(metadata={"description": "200 characters at most"})
    vat_rate_bp = fields.Integer(
        strict=True,
        validate=validate.OneOf(VAT_RATES_BP),
        metadata={"description": "VAT rate in basis points: 2000, 1000, 550 or 210"},
    )
    description = fields.String()
    category = fields.String()
    status = _enum(
        ProductStatus, metadata={"description": "Publishing needs a variant with a price"}
    )
    merchant_pick = fields.Boolean(metadata={"description": "The merchant's favourite"})


class MerchantProductArgsSchema(MerchantProductPatchArgsSchema):
    name = fields.String(required=True, metadata={"description": "200 characters at most"})
    vat_rate_bp = fields.Integer(
        required=True,
        strict=True,
        validate=validate.OneOf(VAT_RATES_BP),
        metadata={"description": "VAT rate in basis points: 2000, 1000, 550 or 210"},
    )
    variants = fields.List(
        fields.Nested(MerchantVariantArgsSchema),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "The product's variants, each with its own SKU"},
    )


# -- Catalogue responses -----------------------------------------------------------------


class MerchantVariantSchema(Schema):
    id = fields.Integer()
    sku = fields.String()
    label = fields.String()
    options = fields.Dict(keys=fields.String(), values=fields.String())
    price_cents = fields.Integer(metadata={"description": "Price TTC in cents"})
    stock = fields.Integer()
    made_to_order = fields.Boolean()
    ean = fields.String(allow_none=True)
    weight_grams = fields.Integer(allow_none=True)


class MerchantProductSchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    description = fields.String()
    category = fields.String()
    vat_rate_bp = fields.Integer(metadata={"description": "VAT rate, 2000 = 20 %"})
    status = _enum(ProductStatus)
    merchant_pick = fields.Boolean()
    created_at = UTCDateTime()
    variants = fields.List(fields.Nested(MerchantVariantSchema))


# -- Stock ------------------------------------------------------------------------------


class StockArgsSchema(Schema):
    stock = fields.Integer(
        required=True, strict=True, metadata={"description": "The new quantity in stock"}
    )
    stock_was = fields.Integer(
        strict=True,
        metadata={
            "description": "Optional: the quantity the caller last read; refused (422) if "
            "a sale changed it since, instead of undoing that sale"
        },
    )


class StockItemArgsSchema(StockArgsSchema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=cat.SKU_MAX))


class StockItemSchema(Schema):
    sku = fields.String()
    variant_id = fields.Integer(attribute="id")
    product_id = fields.Integer()
    stock = fields.Integer()
    made_to_order = fields.Boolean()


# -- Import -----------------------------------------------------------------------------


class ImportUploadArgsSchema(Schema):
    file = Upload(
        required=True,
        metadata={"description": "CSV (UTF-8 or Windows-1252) or XLSX, 10 MB at most"},
    )


class ImportProblemSchema(Schema):
    row = fields.Integer(allow_none=True, metadata={"description": "Row in the file; null: all"})
    column = fields.String(allow_none=True)
    message = fields.String()
    level = fields.String(validate=validate.OneOf(("error", "warning")))


class ImportJobSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    format = fields.String(metadata={"description": "csv or xlsx"})
    status = _enum(
        ImportStatus,
        metadata={
            "description": "validating and applying run in the background: poll the job; "
            "valid may be applied, applied is done, invalid lists the errors"
        },
    )
    size_bytes = fields.Integer()
    total_rows = fields.Integer()
    processed_rows = fields.Integer()
    error_count = fields.Integer(metadata={"description": "All errors, even those not listed"})
    errors = fields.List(
        fields.Nested(ImportProblemSchema),
        metadata={"description": "The first problems found (errors and warnings)"},
    )
    summary = fields.Dict(
        keys=fields.String(),
        metadata={"description": "rows, products_created, variants_updated, unchanged…"},
    )
    created_at = UTCDateTime()
    finished_at = UTCDateTime(allow_none=True)
    running = ComputedBoolean(
        lambda job: job.is_running,
        metadata={"description": "True while the file is checked or applied: poll again"},
    )
