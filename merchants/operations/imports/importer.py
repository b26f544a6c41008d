"""Checking the rows against the file and the catalogue, and writing them in
batches, all or nothing.

The rows are handled in chunks of `BATCH_ROWS`: the chunk's SKUs, product refs and
names are looked up in the catalogue in two queries, then each row is checked in
file order (so the problems come out in file order), and when applying, the chunk's
products and variants are written at once (PostgreSQL: variants with COPY). What
a chunk needs of the earlier ones (its SKUs' first rows, its products) is loaded from
temporary tables (`seen`) and what it adds stored back, so memory follows the chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask_babel import gettext as _

from marketplace.territory import slugify

from ...models import (
    ProductStatus,
    Shop,
)
from .. import catalogue as cat
from .common import BATCH_ROWS, MAX_ROWS, ImportFileError, Progress, Report
from .rows import (
    _PRODUCT_COLUMNS,
    _PRODUCT_KEYS,
    _Catalogue,
    _cell,
    _differing,
    _Group,
    _group_key,
    _signature,
    _unprotect,
)
from .seen import _Seen
from .sources import Table
from .writes import _Writes

_CACHED_VALUES = 64


class _Importer:
    """Reads the rows, checks them against the file and the catalogue, and (when
    applying) writes them in batches."""

    def __init__(self, shop: Shop, report: Report, write: bool, progress: Progress | None):
        self.shop = shop
        self.report = report
        self.write = write
        self.progress = progress
        self.catalogue = _Catalogue(shop.id)
        # What the batch's rows need of the file read so far (`_Seen.load`), and add.
        self.groups: dict[str, _Group] = {}  # _group_key → the product's group
        self.skus: dict[str, int] = {}  # SKU → first row
        self.writes = _Writes(shop.id) if write else None
        self.columns: dict[str, int] = {}
        self._vat_cache: dict[str, tuple[bool, Any]] = {}
        self._status_cache: dict[str, tuple[bool, Any]] = {}

    # value helpers ---------------------------------------------------------------

    def _error(self, row: int, column: str, message: str) -> None:
        self.report.add(row, column, message)

    def _text(self, cells: Sequence[Any], row: int, column: str) -> str:
        value = _cell(cells, self.columns.get(column))
        if not value:
            return value
        value, formula = _unprotect(value)
        if formula:
            self.report.add(
                row,
                column,
                _(
                    "Cellule commençant par « %(char)s » : gardée comme du texte, "
                    "jamais comme une formule.",
                    char=value[0],
                ),
                warning=True,
            )
        return value

    def _key_text(self, cells: Sequence[Any], column: str) -> str:
        """A cell as `_text` reads it, without reporting anything (for the lookups)."""
        value = _cell(cells, self.columns.get(column))
        return _unprotect(value)[0] if value else value

    def _parse(self, row: int, column: str, raw: str, parser: Callable[[str], Any]) -> Any:
        try:
            return parser(raw)
        except ValueError as exc:
            self._error(row, column, str(exc))
            return None

    def _cached(self, cache: dict[str, Any], row: int, column: str, raw: str, parser: Any) -> Any:
        """Parse a value repeated on many rows (VAT rate, status) once."""
        result = cache.get(raw)
        if result is None:
            try:
                result = (True, parser(raw))
            except ValueError as exc:
                result = (False, str(exc))
            if len(cache) < _CACHED_VALUES:  # a hostile file's distinct values: not kept
                cache[raw] = result
        if not result[0]:
            self._error(row, column, result[1])
            return None
        return result[1]

    # the loop ----------------------------------------------------------------------

    def run(self, table: Table) -> None:
        self.columns = table.columns
        self.seen = _Seen()
        report = self.report
        chunk: list[tuple[int, Sequence[Any]]] = []
        for number, cells in table.rows:
            if not any(c is not None and str(c).strip() for c in cells):
                continue  # blank line
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise ImportFileError(_("Trop de lignes : %(n)d au plus par fichier.", n=MAX_ROWS))
            chunk.append((number, cells))
            if len(chunk) >= BATCH_ROWS:
                self._chunk(chunk)
                chunk = []
        if chunk:
            self._chunk(chunk)
        self._check_publication()
        self.seen.close()
        if self.progress is not None:
            self.progress(report.rows)

    def _chunk(self, chunk: list[tuple[int, Sequence[Any]]]) -> None:
        """Look up what the chunk's rows refer to, check each row, write them."""
        skus: set[str] = set()
        slugs: set[str] = set()
        names: dict[str, str] = {}  # _group_key → casefolded name
        for _number, cells in chunk:
            if sku := self._key_text(cells, "sku"):
                skus.add(sku)
            if ref := self._key_text(cells, "product_ref"):
                slugs.add(slugify(ref)[: cat.SLUG_MAX])
            elif name := self._key_text(cells, "product_name"):
                names[_group_key("name", name.casefold())] = name.casefold()
        keys = {_group_key("ref", slug) for slug in slugs} | names.keys()
        self.skus, self.groups = self.seen.load(skus, keys)
        # A SKU or product of an earlier batch is not looked up again.
        self.catalogue.fetch(
            skus.difference(self.skus),
            slugs,
            [name for key, name in names.items() if key not in self.groups],
        )
        for number, cells in chunk:
            self._row(number, cells)
        if self.writes is not None:
            if self.report.ok:
                self.writes.flush()  # gives the new products their ids
            else:
                self.writes = None  # nothing will be written: stop queueing
        self.seen.store(self.skus, self.groups)
        if self.progress is not None:
            self.progress(self.report.rows)

    def _row(self, row: int, cells: Sequence[Any]) -> None:
        errors_before = self.report.error_count
        sku = self._text(cells, row, "sku")
        name = self._text(cells, row, "product_name")
        ref = self._text(cells, row, "product_ref")
        for column, field_name, value in (("sku", "sku", sku), ("product_name", "name", name)):
            if message := cat.text_error(field_name, value):
                self._error(row, column, message)

        # product-level fields, kept only when given
        given: dict[str, Any] = {"name": name} if name else {}
        for column in ("description", "category"):
            value = self._text(cells, row, column)
            if value:
                if message := cat.text_error(column, value):
                    self._error(row, column, message)
                given[column] = value
        vat_raw = _cell(cells, self.columns.get("vat_rate"))
        if vat_raw:
            vat = self._cached(self._vat_cache, row, "vat_rate", vat_raw, cat.parse_vat_rate)
            if vat is not None:
                given["vat_rate_bp"] = vat
        status_raw = _cell(cells, self.columns.get("status")).lower()
        if status_raw:
            status = self._cached(self._status_cache, row, "status", status_raw, cat.parse_status)
            if status is not None:
                given["status"] = status

        # variant-level fields
        price_raw = _cell(cells, self.columns.get("price"))
        price = self._parse(row, "price", price_raw, cat.parse_price) if price_raw else None
        stock_raw = _cell(cells, self.columns.get("stock"))
        stock = self._parse(row, "stock", stock_raw, cat.parse_stock) if stock_raw else None
        ean_raw = _cell(cells, self.columns.get("ean"))
        ean = self._parse(row, "ean", ean_raw, cat.parse_ean) if ean_raw else None
        weight_raw = _cell(cells, self.columns.get("weight_grams"))
        weight = self._parse(row, "weight_grams", weight_raw, cat.parse_weight)
        pairs = [
            (self._text(cells, row, "option1_name"), self._text(cells, row, "option1_value")),
            (self._text(cells, row, "option2_name"), self._text(cells, row, "option2_value")),
        ]
        options: dict[str, str] | None = None
        if any(a or b for a, b in pairs):
            options = self._parse(row, "option1_name", "", lambda _x: cat.clean_options(pairs))

        if not sku or not name:
            return
        first = self.skus.setdefault(sku, row)
        if first != row:
            self._error(
                row,
                "sku",
                _(
                    "La référence « %(sku)s » est saisie deux fois (ligne %(first)d).",
                    sku=sku,
                    first=first,
                ),
            )
            return
        group = self._group(row, sku, name, ref, given)
        if group is None or self.report.error_count > errors_before:
            if group is not None:
                group.errors = True
            return
        self._variant(row, group, sku, price, stock, ean, weight, options)

    def _group(
        self, row: int, sku: str, name: str, ref: str, given: dict[str, Any]
    ) -> _Group | None:
        catalogue = self.catalogue
        slug_ref = slugify(ref)[: cat.SLUG_MAX] if ref else ""
        if ref and not slug_ref:
            self._error(row, "product_ref", _("Référence produit illisible : lettres et chiffres."))
            return None
        key = _group_key("ref", slug_ref) if ref else _group_key("name", name.casefold())
        group = self.groups.get(key)
        existing_variant = catalogue.variants.get(sku)
        if group is None:
            product_id: int | None
            if ref:
                product_id = catalogue.by_slug.get(slug_ref)
            elif existing_variant is not None:
                product_id = existing_variant.product_id
            else:
                product_id = catalogue.by_name(name.casefold())
            group = _Group(
                row, _signature(given), product_id, given.get("status", ProductStatus.DRAFT)
            )
            self.groups[key] = group
            self._product_change(group, given, slug_ref or name)
        else:
            index = _differing(group.signature, _signature(given))
            if index is not None:
                column_key = _PRODUCT_KEYS[index]
                column = _PRODUCT_COLUMNS.get(column_key, column_key)
                self._error(
                    row,
                    column,
                    _(
                        "Valeur différente de la première ligne de ce produit "
                        "(ligne %(first)d) : les champs du produit se remplissent sur "
                        "sa première ligne, les suivantes les répètent ou les laissent vides.",
                        first=group.first_row,
                    ),
                )
                return None
        if existing_variant is not None and existing_variant.product_id != group.product_id:
            other = catalogue.products[existing_variant.product_id]
            self._error(
                row,
                "sku",
                _(
                    "La référence « %(sku)s » est déjà utilisée dans votre boutique, "
                    "par le produit « %(product)s ».",
                    sku=sku,
                    product=other.name,
                ),
            )
            return None
        return group

    def _product_change(self, group: _Group, fields: dict[str, Any], slug_from: str) -> None:
        if group.product_id is None:
            self.report.products_created += 1
            if self.writes is not None:
                self.writes.new_product(
                    group,
                    cat.slug_base(slug_from),
                    {
                        "name": fields["name"],
                        "description": fields.get("description", ""),
                        "category": fields.get("category", ""),
                        "vat_rate_bp": fields.get("vat_rate_bp", 2000),
                        "status": fields.get("status", ProductStatus.DRAFT),
                    },
                )
            return
        current = self.catalogue.products[group.product_id]
        group.priced = current.priced
        group.status = fields.get("status", current.status)
        changed = {k: v for k, v in fields.items() if getattr(current, k) != v}
        if changed:
            self.report.products_updated += 1
            if self.writes is not None:
                self.writes.product_updates.append({"id": current.id, **changed})

    def _variant(
        self,
        row: int,
        group: _Group,
        sku: str,
        price: int | None,
        stock: int | None,
        ean: str | None,
        weight: int | None,
        options: dict[str, str] | None,
    ) -> None:
        existing = self.catalogue.variants.get(sku)
        if existing is None:
            if price is None:
                self._error(row, "price", _("Indiquez le prix TTC en euros, par exemple 12,50."))
                group.errors = True
                return
            group.priced = group.priced or cat.has_price((price,))
            self.report.variants_created += 1
            if self.writes is not None:
                self.writes.new_variant(group, sku, price, stock or 0, ean, weight, options or {})
            return
        given = {
            "price_cents": price,
            "stock": stock,
            "ean": ean,
            "weight_grams": weight,
            "options": options,
        }
        changed = {k: v for k, v in given.items() if v is not None and getattr(existing, k) != v}
        group.priced = group.priced or cat.has_price(
            (price if price is not None else existing.price_cents,)
        )
        if changed:
            self.report.variants_updated += 1
            if self.writes is not None:
                self.writes.variant_updates.append({"id": existing.id, **changed})
        else:
            self.report.unchanged += 1

    def _check_publication(self) -> None:
        for group in self.seen.products():
            if cat.lacks_price(group.status, group.priced):
                self._error(group.first_row, "status", cat.publication_message())
