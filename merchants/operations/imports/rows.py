"""The catalogue as the rows need it (fetched chunk by chunk), one row's cells, and
formula protection."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select

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
    """The shop's products and variants that one chunk of rows refers to, fetched in
    two queries per chunk: memory follows the chunk, not the catalogue.

    Only what existed before the import is looked up (products with an id up to
    `before`), so an apply, which writes chunk after chunk, sees what a dry run of
    the same file sees. The casefolded names of those products (to match rows
    without a product_ref by name) are read once, on first need: one short string
    and an id per existing product.
    """

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        self.before: int = (
            db.session.scalar(select(func.max(Product.id)).where(Product.shop_id == shop_id)) or 0
        )
        self.products: dict[int, _Product] = {}
        self.by_slug: dict[str, int] = {}
        self.variants: dict[str, _Variant] = {}
        self._by_name: dict[str, int | None] | None = None

    def by_name(self, key: str) -> int | None:
        """The product named so (casefolded), None when none or several."""
        if self._by_name is None:
            self._by_name = {}
            if self.before:
                for product_id, name in db.session.execute(
                    select(Product.id, Product.name).where(
                        Product.shop_id == self.shop_id, Product.id <= self.before
                    )
                ):
                    folded = name.casefold()
                    self._by_name[folded] = None if folded in self._by_name else product_id
        return self._by_name.get(key)

    def fetch(self, skus: Collection[str], slugs: Collection[str], names: Collection[str]) -> None:
        """Replace what is held by the variants with these SKUs, the products with
        these slugs or (casefolded) names, and the products of those variants."""
        self.products = {}
        self.by_slug = {}
        self.variants = {}
        if not self.before:
            return  # a shop without products: nothing to find
        if skus:
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
                .where(
                    Product.shop_id == self.shop_id,
                    Product.id <= self.before,
                    Variant.sku.in_(list(skus)),
                )
                .order_by(Variant.id)
            ):
                self.variants.setdefault(vrow[0], _Variant(*vrow[1:]))
        ids = {v.product_id for v in self.variants.values()}
        ids.update(i for i in (self.by_name(n) for n in names) if i is not None)
        wanted = []
        if ids:
            wanted.append(Product.id.in_(list(ids)))
        if slugs:
            wanted.append(Product.slug.in_(list(slugs)))
        if not wanted:
            return
        priced = exists().where(Variant.product_id == Product.id, Variant.price_cents > 0)
        for row in db.session.execute(
            select(
                Product.id,
                Product.slug,
                Product.name,
                Product.description,
                Product.category,
                Product.vat_rate_bp,
                Product.status,
                priced,
            ).where(Product.shop_id == self.shop_id, Product.id <= self.before, or_(*wanted))
        ):
            product = _Product(*row)
            self.products[product.id] = product
            self.by_slug[product.slug] = product.id


# -- one row --------------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    """One product of the file: its first row's fields and where it lives."""

    first_row: int
    # The product-level values its first row gave, as `_signature`: later rows are
    # compared with them without keeping the texts.
    signature: bytes
    product_id: int | None
    # The status the product will have (the file's, else the current one).
    status: ProductStatus
    priced: bool = False
    errors: bool = False


_PRODUCT_KEYS = ("name", "description", "category", "vat_rate_bp", "status")
_PRODUCT_COLUMNS = {"name": "product_name", "vat_rate_bp": "vat_rate"}


_SIGNATURE = struct.Struct(f"<B{len(_PRODUCT_KEYS)}q")


def _signature(given: dict[str, Any]) -> bytes:
    """The hashes of the product-level values given, packed in 41 bytes (a mask of
    the values given, then 8 bytes a value): what a product of the file keeps."""
    mask = 0
    hashes = []
    for index, key in enumerate(_PRODUCT_KEYS):
        if key in given:
            mask |= 1 << index
            hashes.append(hash(given[key]))
        else:
            hashes.append(0)
    return _SIGNATURE.pack(mask, *hashes)


def _differing(first: bytes, later: bytes) -> int | None:
    """The index in _PRODUCT_KEYS of the first value a later row gives that differs
    from its product's first row (which may have left it empty), or None."""
    if first == later:
        return None
    first_mask, *first_hashes = _SIGNATURE.unpack(first)
    later_mask, *later_hashes = _SIGNATURE.unpack(later)
    for index in range(len(_PRODUCT_KEYS)):
        if later_mask >> index & 1 and (
            not first_mask >> index & 1 or first_hashes[index] != later_hashes[index]
        ):
            return index
    return None


def _group_key(kind: str, text_value: str) -> str:
    """The key of a product of the file ("ref" and its slug, or "name" and its
    casefolded name) as the hex of a 16-byte digest: short, and no two products
    share one."""
    return hashlib.blake2b(f"{kind}\0{text_value}".encode(), digest_size=16).hexdigest()


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
