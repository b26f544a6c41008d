"""The catalogue as it is, one row's cells, and formula protection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from marketplace.extensions import db

from ...models import (
    Product,
    ProductStatus,
    Variant,
)
from .common import FORMULA_CHARS

# -- the catalogue as it is -----------------------------------------------------------


@dataclass(slots=True)
class _Product:
    id: int
    slug: str
    name: str
    description: str
    category: str
    vat_rate_bp: int
    status: ProductStatus
    priced: bool = False  # has a variant with a price


@dataclass(slots=True)
class _Variant:
    id: int
    product_id: int
    price_cents: int
    stock: int
    ean: str | None
    weight_grams: int | None
    options: dict[str, Any]


class _Catalogue:
    """A compact snapshot of the shop's products and variants."""

    def __init__(self, shop_id: int) -> None:
        self.products: dict[int, _Product] = {}
        self.by_slug: dict[str, int] = {}
        self.by_name: dict[str, int | None] = {}  # casefolded name → id (None: several)
        self.variants: dict[str, _Variant] = {}
        for row in db.session.execute(
            select(
                Product.id,
                Product.slug,
                Product.name,
                Product.description,
                Product.category,
                Product.vat_rate_bp,
                Product.status,
            ).where(Product.shop_id == shop_id)
        ):
            product = _Product(*row)
            self.products[product.id] = product
            self.by_slug[product.slug] = product.id
            key = product.name.casefold()
            self.by_name[key] = None if key in self.by_name else product.id
        for vrow in db.session.execute(
            select(
                Variant.sku,
                Variant.id,
                Variant.product_id,
                Variant.price_cents,
                Variant.stock,
                Variant.ean,
                Variant.weight_grams,
                Variant.options,
            )
            .join(Product, Product.id == Variant.product_id)
            .where(Product.shop_id == shop_id)
            .order_by(Variant.id)
        ):
            self.variants.setdefault(vrow[0], _Variant(*vrow[1:]))
            if vrow.price_cents > 0:
                self.products[vrow.product_id].priced = True


# -- one row --------------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    """One product of the file: its first row's fields and where it lives."""

    first_row: int
    # Hashes of the product-level values its first row gave (None: left empty):
    # later rows are compared with them without keeping the texts.
    signature: tuple[int | None, ...]
    product_id: int | None
    slug: str
    status: ProductStatus | None
    priced: bool = False
    errors: bool = False


_PRODUCT_KEYS = ("name", "description", "category", "vat_rate_bp", "status")
_PRODUCT_COLUMNS = {"name": "product_name", "vat_rate_bp": "vat_rate"}


def _signature(given: dict[str, Any]) -> tuple[int | None, ...]:
    return tuple(hash(given[k]) if k in given else None for k in _PRODUCT_KEYS)


def _cell(cells: Sequence[Any], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    value = cells[index]
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def protect(value: str) -> str:
    """The export's guard: a leading apostrophe before text a spreadsheet would run."""
    if value and value.lstrip("'")[:1] in FORMULA_CHARS:
        return "'" + value
    return value


def _unprotect(value: str) -> tuple[str, bool]:
    """(value without the export's apostrophe, looks like a formula)."""
    if value[:1] == "'" and value[1:].lstrip("'")[:1] in FORMULA_CHARS:
        return value[1:], False
    return value, value[:1] in FORMULA_CHARS
