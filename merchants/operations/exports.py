"""Catalogue export in the import's own format (CSV or XLSX), and the empty templates.

An export imported again changes nothing: same columns, a `product_ref` (the product's
slug) so two products sharing a name stay two, prices "12,50", VAT "5,5". The CSV is
UTF-8 with a BOM and `;` (what a French spreadsheet opens directly); text cells a
spreadsheet would run as a formula (= + - @) get a leading apostrophe, which the
import removes. The XLSX stores such text as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.extensions import db

from ..models import Product, Variant
from .imports import ALL_COLUMNS, TEXT_COLUMNS, protect

CSV_DELIMITER = ";"
XLSX_SHEET = "Catalogue"
Progress = Callable[[int], None]


def price_text(cents: int) -> str:
    """1250 → "12,50" (what a French spreadsheet reads as a number)."""
    return f"{cents // 100},{cents % 100:02d}"


def vat_text(rate_bp: int) -> str:
    """2000 → "20", 550 → "5,5"."""
    return f"{rate_bp / 100:g}".replace(".", ",")


def count_rows(shop_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count(Variant.id))
            .join(Product, Product.id == Variant.product_id)
            .where(Product.shop_id == shop_id)
        )
        or 0
    )


def catalogue_rows(shop_id: int) -> Iterator[dict[str, Any]]:
    """One dict per variant, products in creation order, read in batches."""
    query = (
        select(
            Variant.sku,
            Product.name,
            Product.description,
            Product.category,
            Product.vat_rate_bp,
            Variant.price_cents,
            Variant.stock,
            Variant.ean,
            Variant.weight_grams,
            Variant.options,
            Product.status,
            Product.slug,
        )
        .join(Product, Product.id == Variant.product_id)
        .where(Product.shop_id == shop_id)
        .order_by(Product.id, Variant.id)
        .execution_options(yield_per=1000)
    )
    for row in db.session.execute(query):
        options = list((row.options or {}).items())[:2]
        option_cells: list[str] = []
        for index in range(2):
            name, value = options[index] if index < len(options) else ("", "")
            option_cells += [str(name), str(value)]
        yield {
            "sku": row.sku,
            "product_name": row.name,
            "description": row.description or "",
            "category": row.category or "",
            "vat_rate": row.vat_rate_bp,
            "price": row.price_cents,
            "stock": row.stock,
            "ean": row.ean or "",
            "weight_grams": row.weight_grams,
            "option1_name": option_cells[0],
            "option1_value": option_cells[1],
            "option2_name": option_cells[2],
            "option2_value": option_cells[3],
            "status": row.status.value,
            "product_ref": row.slug,
        }


def _csv_cells(row: dict[str, Any]) -> list[str]:
    cells = []
    for column in ALL_COLUMNS:
        value = row[column]
        if column == "price":
            cells.append(price_text(value))
        elif column == "vat_rate":
            cells.append(vat_text(value))
        elif value is None:
            cells.append("")
        elif column in TEXT_COLUMNS:
            cells.append(protect(str(value)))
        else:
            cells.append(str(value))
    return cells


def write_csv(shop_id: int, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the shop's catalogue as CSV; returns the number of rows."""
    text_out = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text_out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
        writer.writerow(ALL_COLUMNS)
        count = 0
        for row in catalogue_rows(shop_id):
            writer.writerow(_csv_cells(row))
            count += 1
            if progress is not None and count % 100 == 0:
                progress(count)
        text_out.flush()
    finally:
        text_out.detach()
    if progress is not None:
        progress(count)
    return count


def _xlsx_cell(sheet: Any, column: str, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if column == "price":
        cell = WriteOnlyCell(sheet, value=value / 100)
        cell.number_format = "0.00"
        return cell
    if column == "vat_rate":
        return WriteOnlyCell(sheet, value=value // 100 if value % 100 == 0 else value / 100)
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, even when it starts with "="
        return cell
    return WriteOnlyCell(sheet, value=value)


def write_xlsx(shop_id: int, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the shop's catalogue as XLSX (openpyxl write-only: streamed to `out`)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(XLSX_SHEET)
    sheet.append(list(ALL_COLUMNS))
    count = 0
    for row in catalogue_rows(shop_id):
        sheet.append([_xlsx_cell(sheet, column, row[column]) for column in ALL_COLUMNS])
        count += 1
        if progress is not None and count % 100 == 0:
            progress(count)
    workbook.save(out)
    if progress is not None:
        progress(count)
    return count


# -- templates ------------------------------------------------------------------------


def column_help() -> list[tuple[str, str]]:
    """What each column holds, shown on the import page and in the XLSX template."""
    return [
        ("sku", _("Référence de la variante, unique dans la boutique (obligatoire).")),
        (
            "product_name",
            _("Nom du produit (obligatoire). Les lignes du même produit sont ses variantes."),
        ),
        ("description", _("Description du produit.")),
        ("category", _("Catégorie, par exemple « Épicerie ».")),
        ("vat_rate", _("Taux de TVA en % : 20, 10, 5,5 ou 2,1.")),
        (
            "price",
            _("Prix TTC en euros, par exemple 12,50 (obligatoire pour une nouvelle variante)."),
        ),
        ("stock", _("Quantité en stock, nombre entier.")),
        ("ean", _("Code-barres EAN-13 ou EAN-8 (facultatif).")),
        ("weight_grams", _("Poids en grammes, pour les colis (facultatif).")),
        ("option1_name", _("Nom d'une option, par exemple « taille ».")),
        ("option1_value", _("Valeur de l'option, par exemple « M ».")),
        ("option2_name", _("Nom d'une seconde option, par exemple « couleur ».")),
        ("option2_value", _("Valeur de la seconde option.")),
        ("status", _("draft (brouillon), published (en ligne) ou archived.")),
        (
            "product_ref",
            _("Facultatif : identifiant du produit ; sinon les variantes sont groupées par nom."),
        ),
    ]


def template_csv() -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n").writerow(ALL_COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(XLSX_SHEET)
    sheet.append(list(ALL_COLUMNS))
    notes = workbook.create_sheet(_("Aide"))
    notes.append([_("Colonne"), _("Contenu")])
    for column, text in column_help():
        notes.append([column, text])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
