"""Catalogue import from CSV or XLSX: a dry run listing every bad row, then apply,
all or nothing, creating or updating products and variants by SKU.

The file is read as a stream, one row at a time (csv.reader over a bounded line
iterator; openpyxl in read-only mode), so memory does not grow with the file: what is
kept per row is its SKU (duplicates) and, per product, its first row's fields. The
values are checked with the catalogue's own parsers (`catalogue.parse_*`); the writes
are batched (one INSERT/UPDATE per batch of rows) inside one savepoint of the
caller's transaction, rolled back when any row is wrong.

Rows sharing a `product_ref` (or, without one, a `product_name`) are the variants of
one product. An empty cell leaves the current value (or the default for something
new). Text cells starting with = + - @ are flagged and kept as plain text; a leading
apostrophe before them (how the export protects them) is removed.
"""

from __future__ import annotations

import codecs
import csv
import io
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import insert, select, text, update

from marketplace.extensions import db
from marketplace.models import User, utcnow
from marketplace.territory import slugify

from ..models import (
    ImportFormat,
    ImportJob,
    ImportStatus,
    Product,
    ProductStatus,
    Shop,
    Variant,
)
from . import catalogue as cat

# The columns of the template, in order; product_ref is optional.
COLUMNS = (
    "sku",
    "product_name",
    "description",
    "category",
    "vat_rate",
    "price",
    "stock",
    "ean",
    "weight_grams",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "status",
)
OPTIONAL_COLUMNS = ("product_ref",)
ALL_COLUMNS = COLUMNS + OPTIONAL_COLUMNS
TEXT_COLUMNS = frozenset(
    {
        "sku",
        "product_name",
        "description",
        "category",
        "option1_name",
        "option1_value",
        "option2_name",
        "option2_value",
        "product_ref",
    }
)
FORMULA_CHARS = ("=", "+", "-", "@")

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_COLUMNS = 64
MAX_LINE_CHARS = 64 * 1024  # one physical line of a CSV file
MAX_RECORD_CHARS = 256 * 1024  # one record (quoted fields may span lines)
MAX_ROWS = 100_000
MAX_STORED_PROBLEMS = 1_000
XLSX_MAX_ENTRIES = 2_000
XLSX_MAX_UNCOMPRESSED = 256 * 1024 * 1024
XLSX_MAX_RATIO = 200  # uncompressed / compressed size of one member
BATCH_ROWS = 500
PROGRESS_EVERY = 100  # rows between two calls of the progress callback
DEFAULT_ASYNC_ROWS = 500

Progress = Callable[[int], None]


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format, size, header)."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# -- the report ---------------------------------------------------------------------


@dataclass
class Report:
    """What a dry run (or an apply) found: counts, and the first problems."""

    rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    error_count: int = 0
    warning_count: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def changes(self) -> int:
        return (
            self.products_created
            + self.products_updated
            + self.variants_created
            + self.variants_updated
        )

    def add(self, row: int | None, column: str | None, message: str, warning: bool = False) -> None:
        if warning:
            self.warning_count += 1
        else:
            self.error_count += 1
        if len(self.problems) < MAX_STORED_PROBLEMS:
            self.problems.append(
                {
                    "row": row,
                    "column": column,
                    "message": message,
                    "level": "warning" if warning else "error",
                }
            )

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "warnings": self.warning_count,
            "products_created": self.products_created,
            "products_updated": self.products_updated,
            "variants_created": self.variants_created,
            "variants_updated": self.variants_updated,
            "unchanged": self.unchanged,
            "changes": self.changes,
        }


# -- sources and tables -------------------------------------------------------------


@dataclass
class Source:
    """A file to import: its format and a way to (re)open it from the start."""

    format: ImportFormat
    open: Callable[[], IO[bytes]]
    filename: str = ""


def detect_format(head: bytes, filename: str = "") -> ImportFormat:
    """XLSX when the content is a zip (whatever the name says), else CSV.

    Refuses the old binary .xls and a name ending in .xlsx over something not a zip.
    """
    name = filename.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _("Ancien format Excel (.xls) non pris en charge : enregistrez en .xlsx ou en CSV.")
        )
    if head.startswith(b"PK\x03\x04"):
        return ImportFormat.XLSX
    if name.endswith((".xlsx", ".xlsm")):
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide."))
    return ImportFormat.CSV


def source_from_bytes(content: bytes, filename: str = "") -> Source:
    fmt = detect_format(content[:8], filename)
    return Source(fmt, lambda: io.BytesIO(content), filename)


def source_from_path(path: str | Path) -> Source:
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
    return Source(detect_format(head, path.name), lambda: path.open("rb"), path.name)


@dataclass
class Table:
    """The header (column name → index) and the data rows, read lazily."""

    columns: dict[str, int]
    rows: Iterator[tuple[int, Sequence[Any]]]  # (spreadsheet row number, cells)
    estimated_rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    unknown_columns: list[str] = field(default_factory=list)


def _normalise_header(cells: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        name = ("" if cell is None else str(cell)).strip().strip("\ufeff").strip().lower()
        if not name:
            continue
        if name in ALL_COLUMNS and name not in columns:
            columns[name] = index
        else:
            unknown.append(name[:40])
    return columns, unknown


def _check_header(columns: dict[str, int]) -> None:
    missing = [c for c in COLUMNS if c not in columns]
    if len(missing) == len(COLUMNS):
        raise ImportFileError(
            _(
                "En-tête introuvable : la première ligne doit nommer les colonnes "
                "(sku, product_name, price…). Partez du modèle à télécharger."
            )
        )
    if missing:
        raise ImportFileError(
            _("Colonnes manquantes : %(columns)s.", columns=", ".join(missing)),
            column=missing[0],
        )


# CSV ------------------------------------------------------------------------------


def _detect_encoding(stream: IO[bytes]) -> tuple[str, int]:
    """UTF-8 (with or without BOM), else Windows-1252; and the number of lines.

    One pass over the bytes, chunk by chunk; refuses binary content.
    """
    head = stream.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            _("Fichier en UTF-16 non pris en charge : enregistrez-le en « CSV UTF-8 ».")
        )
    stream.seek(0)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    utf8_ok = cp1252_ok = True
    lines = 0
    while chunk := stream.read(1024 * 1024):
        if b"\x00" in chunk:
            raise ImportFileError(
                _("Ce fichier n'est pas un fichier texte CSV ni un classeur XLSX.")
            )
        lines += chunk.count(b"\n")
        if utf8_ok:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok and cp1252_ok:
            try:
                cp1252.decode(chunk)
            except UnicodeDecodeError:
                cp1252_ok = False
        if not utf8_ok and not cp1252_ok:
            break
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
            return "utf-8-sig", lines
        except UnicodeDecodeError:
            pass
    if cp1252_ok:
        # Windows-1252 was read from the start only if UTF-8 failed late: re-check it.
        stream.seek(0)
        try:
            while chunk := stream.read(1024 * 1024):
                cp1252.decode(chunk)
        except UnicodeDecodeError:
            cp1252_ok = False
    if cp1252_ok:
        return "cp1252", lines
    raise ImportFileError(
        _("Encodage illisible : enregistrez le fichier en « CSV UTF-8 » depuis votre tableur.")
    )


class _Lines:
    """Physical lines of a text stream, each bounded, and records bounded too."""

    def __init__(self, text_stream: IO[str], first: str) -> None:
        self.text = text_stream
        self.pending: str | None = first
        self.record_chars = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending is not None:
            line, self.pending = self.pending, None
        else:
            line = self.text.readline(MAX_LINE_CHARS + 1)
            if not line:
                raise StopIteration
            if len(line) > MAX_LINE_CHARS:
                raise ImportFileError(
                    _("Ligne trop longue (plus de 64 000 caractères) : fichier non conforme.")
                )
        self.record_chars += len(line)
        if self.record_chars > MAX_RECORD_CHARS:
            raise ImportFileError(
                _("Cellule trop longue ou guillemet jamais fermé : fichier non conforme.")
            )
        return line


def _sniff_delimiter(header_line: str) -> str:
    best, best_score = ";", -1
    for delimiter in (";", ",", "\t"):
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        score = len(_normalise_header(cells)[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


@contextmanager
def _csv_table(source: Source) -> Iterator[Table]:
    with source.open() as stream:
        encoding, lines = _detect_encoding(stream)
        stream.seek(0)
        text_stream = io.TextIOWrapper(stream, encoding=encoding, newline="")
        header_line = text_stream.readline(MAX_LINE_CHARS + 1)
        if len(header_line) > MAX_LINE_CHARS:
            raise ImportFileError(
                _("Ligne d'en-tête trop longue : fichier non conforme (trop de colonnes).")
            )
        delimiter = _sniff_delimiter(header_line)
        line_iter = _Lines(text_stream, header_line)
        reader = csv.reader(line_iter, delimiter=delimiter)
        try:
            header = next(reader, [])
        except csv.Error:
            header = []
        if len(header) > MAX_COLUMNS:
            raise ImportFileError(_("Trop de colonnes : %(n)d au plus.", n=MAX_COLUMNS))
        columns, unknown = _normalise_header(header)
        _check_header(columns)

        def rows() -> Iterator[tuple[int, Sequence[Any]]]:
            number = 1
            while True:
                line_iter.record_chars = 0
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ImportFileError(
                        _("Ligne %(row)d illisible : %(error)s", row=number + 1, error=str(exc))
                    ) from None
                number += 1
                if len(cells) > MAX_COLUMNS:
                    raise ImportFileError(
                        _(
                            "Ligne %(row)d : trop de colonnes (%(n)d au plus).",
                            row=number,
                            n=MAX_COLUMNS,
                        )
                    )
                yield number, cells

        yield Table(columns, rows(), max(lines - 1, 0), encoding, delimiter, unknown)


# XLSX -----------------------------------------------------------------------------


def _check_zip(stream: IO[bytes]) -> None:
    """A real XLSX and no zip bomb: bounded member count, sizes and ratios."""
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide.")) from None
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide."))
    too_big = len(members) > XLSX_MAX_ENTRIES or (
        sum(m.file_size for m in members) > XLSX_MAX_UNCOMPRESSED
    )
    for member in members:
        if member.file_size > 1024 * 1024 and (
            member.file_size > XLSX_MAX_RATIO * max(member.compress_size, 1)
        ):
            too_big = True
    if too_big:
        raise ImportFileError(
            _("Classeur refusé : son contenu décompressé est anormalement volumineux.")
        )


@contextmanager
def _xlsx_table(source: Source) -> Iterator[Table]:
    import openpyxl

    unreadable = _("Classeur Excel illisible : enregistrez-le à nouveau en .xlsx ou en CSV.")
    with source.open() as stream:
        _check_zip(stream)
        stream.seek(0)
        try:
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=False)
        except Exception:
            raise ImportFileError(unreadable) from None
        try:
            try:
                sheet = workbook.worksheets[0]
                try:
                    estimated = max((sheet.max_row or 1) - 1, 0)
                except Exception:
                    estimated = 0
                raw = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
                header: Sequence[Any] = ()
                number = 0
                for cells in raw:
                    number += 1
                    if any(c is not None and str(c).strip() for c in cells):
                        header = cells
                        break
            except Exception:
                raise ImportFileError(unreadable) from None
            columns, unknown = _normalise_header(header)
            _check_header(columns)
            header_row = number

            def rows() -> Iterator[tuple[int, Sequence[Any]]]:
                row_number = header_row
                try:
                    for cells in raw:
                        row_number += 1
                        yield row_number, cells
                except ImportFileError:
                    raise
                except Exception:
                    raise ImportFileError(unreadable) from None

            yield Table(columns, rows(), estimated, None, None, unknown)
        finally:
            workbook.close()


@contextmanager
def open_table(source: Source) -> Iterator[Table]:
    opener = _xlsx_table if source.format is ImportFormat.XLSX else _csv_table
    with opener(source) as table:
        yield table


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


class _Importer:
    """Reads the rows, checks them against the file and the catalogue, and (when
    applying) writes them in batches."""

    def __init__(self, shop: Shop, report: Report, write: bool, progress: Progress | None):
        self.shop = shop
        self.report = report
        self.write = write
        self.progress = progress
        self.catalogue = _Catalogue(shop.id)
        self.groups: dict[tuple[str, str], _Group] = {}
        self.skus: dict[str, int] = {}  # SKU → first row
        self.new_slugs: set[str] = set()
        self.pending_products: list[tuple[_Group, dict[str, Any]]] = []
        self.product_updates: list[dict[str, Any]] = []
        self.new_variants: list[tuple[_Group, dict[str, Any]]] = []
        self.variant_updates: list[dict[str, Any]] = []
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
            cache[raw] = result
        if not result[0]:
            self._error(row, column, result[1])
            return None
        return result[1]

    # the loop ----------------------------------------------------------------------

    def run(self, table: Table) -> None:
        self.columns = table.columns
        report = self.report
        for number, cells in table.rows:
            if not any(c is not None and str(c).strip() for c in cells):
                continue  # blank line
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise ImportFileError(_("Trop de lignes : %(n)d au plus par fichier.", n=MAX_ROWS))
            self._row(number, cells)
            if (
                self.write
                and report.ok
                and len(self.new_variants) + len(self.variant_updates) >= BATCH_ROWS
            ):
                self._flush()
            if self.progress is not None and report.rows % PROGRESS_EVERY == 0:
                self.progress(report.rows)
        self._check_publication()
        if self.write and report.ok:
            self._flush()
        if self.progress is not None:
            self.progress(report.rows)

    def _row(self, row: int, cells: Sequence[Any]) -> None:
        errors_before = self.report.error_count
        sku = self._text(cells, row, "sku")
        name = self._text(cells, row, "product_name")
        ref = self._text(cells, row, "product_ref")
        if not sku:
            self._error(row, "sku", _("Indiquez une référence (SKU), unique dans votre boutique."))
        elif len(sku) > cat.SKU_MAX:
            self._error(row, "sku", _("Référence trop longue : 64 caractères au plus."))
        if not name:
            self._error(row, "product_name", _("Indiquez le nom du produit."))
        elif len(name) > cat.NAME_MAX:
            self._error(row, "product_name", _("Nom trop long : 200 caractères au plus."))

        # product-level fields, kept only when given
        given: dict[str, Any] = {"name": name} if name else {}
        description = self._text(cells, row, "description")
        if description:
            if len(description) > cat.DESCRIPTION_MAX:
                self._error(
                    row,
                    "description",
                    _("Description trop longue : 10 000 caractères au plus."),
                )
            given["description"] = description
        category = self._text(cells, row, "category")
        if category:
            if len(category) > cat.CATEGORY_MAX:
                self._error(row, "category", _("Catégorie trop longue : 100 caractères au plus."))
            given["category"] = category
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
        key = ("ref", slug_ref) if ref else ("name", name.casefold())
        group = self.groups.get(key)
        existing_variant = catalogue.variants.get(sku)
        if group is None:
            product_id: int | None
            if ref:
                product_id = catalogue.by_slug.get(slug_ref)
            elif existing_variant is not None:
                product_id = existing_variant.product_id
            else:
                product_id = catalogue.by_name.get(name.casefold())
            if product_id is not None:
                slug = catalogue.products[product_id].slug
            else:
                slug = self._new_slug(slug_ref or name)
            group = _Group(row, _signature(given), product_id, slug, given.get("status"))
            self.groups[key] = group
            self._product_change(group, given)
        else:
            signature = _signature(given)
            for index, column_key in enumerate(_PRODUCT_KEYS):
                if signature[index] is not None and signature[index] != group.signature[index]:
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

    def _new_slug(self, text_value: str) -> str:
        base = slugify(text_value)[: cat.SLUG_MAX - 8].strip("-") or "produit"
        slug, n = base, 2
        while slug in self.catalogue.by_slug or slug in self.new_slugs:
            slug = f"{base}-{n}"
            n += 1
        self.new_slugs.add(slug)
        return slug

    def _product_change(self, group: _Group, fields: dict[str, Any]) -> None:
        if group.product_id is None:
            self.report.products_created += 1
            values = {
                "shop_id": self.shop.id,
                "slug": group.slug,
                "name": fields["name"],
                "description": fields.get("description", ""),
                "category": fields.get("category", ""),
                "vat_rate_bp": fields.get("vat_rate_bp", 2000),
                "status": fields.get("status", ProductStatus.DRAFT),
            }
            if self.write:
                self.pending_products.append((group, values))
            return
        current = self.catalogue.products[group.product_id]
        group.priced = current.priced
        changed = {k: v for k, v in fields.items() if getattr(current, k) != v}
        if changed:
            self.report.products_updated += 1
            if self.write:
                self.product_updates.append({"id": current.id, **changed})

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
            group.priced = group.priced or price > 0
            self.report.variants_created += 1
            if self.write:
                self.new_variants.append(
                    (
                        group,
                        {
                            "sku": sku,
                            "price_cents": price,
                            "stock": stock or 0,
                            "ean": ean,
                            "weight_grams": weight,
                            "options": options or {},
                        },
                    )
                )
            return
        given = {
            "price_cents": price,
            "stock": stock,
            "ean": ean,
            "weight_grams": weight,
            "options": options,
        }
        changed = {k: v for k, v in given.items() if v is not None and getattr(existing, k) != v}
        group.priced = group.priced or (price if price is not None else existing.price_cents) > 0
        if changed:
            self.report.variants_updated += 1
            if self.write:
                self.variant_updates.append({"id": existing.id, **changed})
        else:
            self.report.unchanged += 1

    def _check_publication(self) -> None:
        for group in self.groups.values():
            if group.errors:
                continue
            status = group.status
            if status is None and group.product_id is not None:
                status = self.catalogue.products[group.product_id].status
            if status is ProductStatus.PUBLISHED and not group.priced:
                self._error(
                    group.first_row,
                    "status",
                    _("Pour publier, ajoutez au moins une variante avec un prix."),
                )

    # writing -----------------------------------------------------------------------

    def _flush(self) -> None:
        session = db.session
        if self.pending_products:
            ids = session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True),
                [values for _group, values in self.pending_products],
            ).all()
            for (group, _values), product_id in zip(self.pending_products, ids, strict=True):
                group.product_id = product_id
            self.pending_products = []
        if self.product_updates:
            session.execute(update(Product), self.product_updates)
            self.product_updates = []
        if self.new_variants:
            session.execute(
                insert(Variant),
                [{**values, "product_id": group.product_id} for group, values in self.new_variants],
            )
            self.new_variants = []
        if self.variant_updates:
            session.execute(update(Variant), self.variant_updates)
            self.variant_updates = []


def check_rows(
    shop: Shop, source: Source, *, write: bool = False, progress: Progress | None = None
) -> Report:
    """Read the whole file and report; with `write`, also apply the rows.

    The writes run in the caller's transaction: when the report is not ok, the caller
    must roll them back (`apply_source` does, with a savepoint).
    """
    report = Report()
    try:
        with open_table(source) as table:
            report.encoding = table.encoding
            report.delimiter = table.delimiter
            if table.encoding == "cp1252":
                report.add(
                    None,
                    None,
                    _(
                        "Fichier encodé en Windows-1252 (pas en UTF-8) : lu comme tel. "
                        "Vérifiez les accents, ou enregistrez en « CSV UTF-8 »."
                    ),
                    warning=True,
                )
            if table.unknown_columns:
                report.add(
                    None,
                    None,
                    _(
                        "Colonnes ignorées : %(columns)s.",
                        columns=", ".join(table.unknown_columns[:10]),
                    ),
                    warning=True,
                )
            _Importer(shop, report, write, progress).run(table)
    except ImportFileError as exc:
        report.add(None, exc.column, exc.message)
    return report


def estimate_rows(source: Source) -> int:
    """A quick count of the data rows (for progress bars and the async threshold)."""
    try:
        if source.format is ImportFormat.CSV:
            with source.open() as stream:
                lines = 0
                while chunk := stream.read(1024 * 1024):
                    lines += chunk.count(b"\n")
            return max(lines - 1, 0)
        with open_table(source) as table:
            return table.estimated_rows
    except (ImportFileError, OSError):
        return 0


def apply_source(shop: Shop, source: Source, progress: Progress | None = None) -> Report:
    """Check and apply the file in a savepoint: everything, or nothing when any row
    is wrong. Serialised per shop with the catalogue's other writes."""
    cat.lock_shop_catalogue(shop)
    savepoint = db.session.begin_nested()
    try:
        report = check_rows(shop, source, write=True, progress=progress)
    except BaseException:
        savepoint.rollback()
        raise
    if report.ok:
        savepoint.commit()
    else:
        savepoint.rollback()
    return report


# -- jobs -----------------------------------------------------------------------------


def async_threshold() -> int:
    return int(current_app.config.get("CATALOGUE_IMPORT_ASYNC_ROWS", DEFAULT_ASYNC_ROWS))


def create_job(shop: Shop, user: User | None, filename: str, content: bytes) -> ImportJob:
    """Keep the uploaded file as a job; counts its rows. Format problems are reported
    by the dry run, not here."""
    try:
        source: Source | None = source_from_bytes(content, filename)
    except ImportFileError:
        source = None
    job = ImportJob(
        shop_id=shop.id,
        user_id=user.id if user is not None else None,
        filename=(filename or "catalogue")[-255:],
        format=source.format if source else ImportFormat.CSV,
        status=ImportStatus.UPLOADED,
        size_bytes=len(content),
        total_rows=estimate_rows(source) if source else 0,
        content=content,
        errors=[],
        summary={},
    )
    db.session.add(job)
    db.session.flush()
    return job


def is_long(job: ImportJob) -> bool:
    return job.total_rows > async_threshold()


def _job_source(job: ImportJob) -> Source:
    content = job.content
    if content is None:
        raise ImportFileError(_("Le fichier de cet import n'est plus disponible."))
    return source_from_bytes(content, job.filename)


def _record(job: ImportJob, report: Report, status: ImportStatus) -> None:
    job.status = status
    job.errors = report.problems
    job.error_count = report.error_count
    job.summary = report.summary()
    job.total_rows = report.rows
    job.processed_rows = report.rows
    job.finished_at = utcnow()


def dry_run(job: ImportJob, progress: Progress | None = None) -> Report:
    """Check every row of the job's file; the job becomes valid or invalid."""
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    try:
        report = check_rows(shop, _job_source(job), progress=progress)
    except ImportFileError as exc:
        report = Report()
        report.add(None, exc.column, exc.message)
    _record(job, report, ImportStatus.VALID if report.ok else ImportStatus.INVALID)
    db.session.flush()
    return report


def apply(job: ImportJob, progress: Progress | None = None) -> Report | None:
    """Apply a valid job, all or nothing; idempotent (an applied job is left as is).

    Returns None when there was nothing to do. The rows are checked again (the
    catalogue may have changed since the dry run): with any error, nothing is
    written and the job becomes invalid.
    """
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    cat.lock_shop_catalogue(shop)
    db.session.refresh(job)  # another run may have applied it while we waited
    if job.status not in (ImportStatus.VALID, ImportStatus.APPLYING):
        return None
    try:
        report = apply_source(shop, _job_source(job), progress=progress)
    except ImportFileError as exc:
        report = Report()
        report.add(None, exc.column, exc.message)
    if report.ok:
        _record(job, report, ImportStatus.APPLIED)
        job.content = None  # the catalogue holds it now
    else:
        _record(job, report, ImportStatus.INVALID)
    db.session.flush()
    return report


def mark_failed(job_id: int) -> None:
    """After an unexpected error (the transaction rolled back): say so on the job."""
    job = db.session.get(ImportJob, job_id)
    if job is not None and job.status is not ImportStatus.APPLIED:
        job.status = ImportStatus.FAILED
        job.finished_at = utcnow()
        db.session.flush()


def progress_recorder(job_id: int, every_seconds: float = 0.5) -> Progress:
    """A progress callback writing `processed_rows` outside the import's transaction
    (its own short one), so a page polling the job sees it move.

    Only on PostgreSQL: SQLite has one writer at a time (and there imports run in the
    web process anyway). It never fails the import.
    """
    last = 0.0

    def record(rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_seconds or db.engine.dialect.name != "postgresql":
            return
        last = now
        try:
            with db.engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '1s'"))
                conn.execute(
                    update(ImportJob).where(ImportJob.id == job_id).values(processed_rows=rows)
                )
        except Exception:
            current_app.logger.info("import %s: progress not recorded", job_id)

    return record


def job_of_shop(shop: Shop, job_id: int) -> ImportJob | None:
    """The shop's import job with that id, or None (never another shop's)."""
    return db.session.scalar(
        select(ImportJob).where(ImportJob.id == job_id, ImportJob.shop_id == shop.id)
    )


def recent_jobs(shop: Shop, limit: int = 10) -> list[ImportJob]:
    return list(
        db.session.scalars(
            select(ImportJob)
            .where(ImportJob.shop_id == shop.id)
            .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
            .limit(limit)
        )
    )
