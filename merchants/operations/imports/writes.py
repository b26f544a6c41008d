"""The import's writes, one batch per chunk of rows: new products and variants with
INSERTs (the products' ids returned in order), then on PostgreSQL from the second
batch on with COPY (the products' ids drawn from their sequence first); updates by
primary key. Slugs of new
products are made unique per batch with two queries, not one per product."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, insert, select, update

from marketplace.extensions import db
from marketplace.models import utcnow

from ...models import Product, Variant
from .. import catalogue as cat
from .rows import _Group

_PRODUCT_COPY = (
    "COPY product (id, shop_id, slug, name, description, category, vat_rate_bp, status, "
    "merchant_pick, created_at) FROM STDIN"
)
_VARIANT_COPY = (
    "COPY variant (product_id, sku, price_cents, stock, ean, weight_grams, options, "
    "made_to_order) FROM STDIN"
)


@contextmanager
def copy_rows(statement: str) -> Iterator[Any]:
    """A COPY … FROM STDIN on the session's connection, in its transaction."""
    driver = db.session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


class _Writes:
    """What one chunk changes, written by `flush`."""

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        # The first batch is written with ordinary INSERT statements, which whatever
        # listens to the session's catalogue writes hears of (the storefront's page
        # cache: its pages are refreshed at the commit); later batches, on
        # PostgreSQL, with COPY, which those listeners never see.
        self.copy = False
        self.new_products: list[tuple[_Group, str, dict[str, Any]]] = []  # slug base
        self.product_updates: list[dict[str, Any]] = []
        self.new_variants: list[tuple[_Group, tuple[Any, ...]]] = []
        self.variant_updates: list[dict[str, Any]] = []

    def new_product(self, group: _Group, slug_base: str, values: dict[str, Any]) -> None:
        self.new_products.append((group, slug_base, values))

    def new_variant(
        self,
        group: _Group,
        sku: str,
        price_cents: int,
        stock: int,
        ean: str | None,
        weight_grams: int | None,
        options: dict[str, str],
    ) -> None:
        self.new_variants.append((group, (sku, price_cents, stock, ean, weight_grams, options)))

    def flush(self) -> None:
        session = db.session
        writes = any(
            (self.new_products, self.product_updates, self.new_variants, self.variant_updates)
        )
        if self.new_products:
            self._insert_products()
            self.new_products = []
        if self.product_updates:
            session.execute(update(Product), self.product_updates)
            self.product_updates = []
        if self.new_variants:
            self._insert_variants()
            self.new_variants = []
        if self.variant_updates:
            session.execute(update(Variant), self.variant_updates)
            self.variant_updates = []
        if writes:
            self.copy = session.connection().dialect.name == "postgresql"

    def _insert_products(self) -> None:
        session = db.session
        slugs = self._unique_slugs([base for _group, base, _values in self.new_products])
        now = utcnow()
        rows = [
            {**values, "shop_id": self.shop_id, "slug": slug, "created_at": now}
            for (_group, _base, values), slug in zip(self.new_products, slugs, strict=True)
        ]
        if not self.copy:
            ids = session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True), rows
            ).all()
        else:
            ids = list(
                session.scalars(
                    select(func.nextval(func.pg_get_serial_sequence("product", "id"))).select_from(
                        func.generate_series(1, len(rows))
                    )
                )
            )
            with copy_rows(_PRODUCT_COPY) as copy:
                for product_id, row in zip(ids, rows, strict=True):
                    copy.write_row(
                        (
                            product_id,
                            self.shop_id,
                            row["slug"],
                            row["name"],
                            row["description"],
                            row["category"],
                            row["vat_rate_bp"],
                            row["status"].value,
                            False,
                            now,
                        )
                    )
        for (group, _base, _values), product_id in zip(self.new_products, ids, strict=True):
            group.product_id = product_id

    def _insert_variants(self) -> None:
        session = db.session
        if not self.copy:
            session.execute(
                insert(Variant),
                [
                    {
                        "product_id": group.product_id,
                        "sku": sku,
                        "price_cents": price,
                        "stock": stock,
                        "ean": ean,
                        "weight_grams": weight,
                        "options": options,
                    }
                    for group, (sku, price, stock, ean, weight, options) in self.new_variants
                ],
            )
            return
        with copy_rows(_VARIANT_COPY) as copy:
            for group, (sku, price, stock, ean, weight, options) in self.new_variants:
                copy.write_row(
                    (
                        group.product_id,
                        sku,
                        price,
                        stock,
                        ean,
                        weight,
                        json.dumps(options, ensure_ascii=False),
                        False,
                    )
                )

    def _unique_slugs(self, bases: list[str]) -> list[str]:
        """A free slug for each new product, in order: the base when nobody has it,
        else "base-2", "base-3"… (the products written by earlier batches are in
        the database already)."""
        counts = Counter(bases)
        taken = set(
            db.session.scalars(
                select(Product.slug).where(
                    Product.shop_id == self.shop_id, Product.slug.in_(list(counts))
                )
            )
        )
        crowded = {base for base, n in counts.items() if n > 1 or base in taken}
        taken |= cat.taken_slugs(self.shop_id, crowded)
        slugs = []
        for base in bases:
            if base in taken and base not in crowded:  # made by another base's suffix
                taken |= cat.taken_slugs(self.shop_id, [base])
                crowded.add(base)
            slug = cat.free_slug(base, taken)
            taken.add(slug)
            slugs.append(slug)
        return slugs
