"""Catalogue import of XLSX files as Excel and LibreOffice write them: shared strings,
rich text, dates by number format, formulas, cells without coordinates. The rows are
read with the importer's own expat reader: its values must be openpyxl's."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from merchants.models import Product, Shop, Variant
from merchants.operations import imports as ops
from tests.factories import ShopFactory

HEADER = list(ops.COLUMNS)
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.fixture
def french(app: Flask) -> Iterator[None]:
    """The operations report in French, as they do in a task."""
    from flask_babel import force_locale

    with force_locale("fr"):
        yield


@pytest.fixture
def shop(french: None) -> Shop:
    return ShopFactory()


def excel_like(sheet_data: str, strings: list[str], doctype: str = "") -> bytes:
    """A workbook whose first sheet is `sheet_data` (the <row>s), with a shared-string
    table, and styles where s="1" is a date and s="2" a time (openpyxl's own save of
    such cells gives the rest of the package)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["A1"] = datetime.date(2026, 5, 12)
    workbook.active["B1"] = datetime.time(10, 30)
    base = io.BytesIO()
    workbook.save(base)
    sheet = f'{doctype}<worksheet xmlns="{MAIN}"><sheetData>{sheet_data}</sheetData></worksheet>'
    table = "".join(f"<si><t>{s}</t></si>" for s in strings)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            data = src.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            elif member.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    f'<Override PartName="/xl/sharedStrings.xml" '
                    f'ContentType="{SHARED_STRINGS_TYPE}" /></Types>'.encode(),
                )
            dst.writestr(member, data)
        dst.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{MAIN}" count="{len(strings)}">{table}</sst>',
        )
    return out.getvalue()


def header_row() -> str:
    cells = "".join(f'<c r="{chr(65 + i)}1" t="s"><v>{i}</v></c>' for i in range(len(HEADER)))
    return f'<row r="1">{cells}</row>'


def read_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    with ops.open_table(ops.source_from_bytes(content, "c.xlsx")) as table:
        return [(number, list(cells)) for number, cells in table.rows]


def openpyxl_rows(content: bytes) -> list[list[Any]]:
    """The data rows as openpyxl's documented reading gives them, trailing empty
    cells and the empty rows it makes up for missing row numbers dropped."""
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(content), read_only=True)
    rows = []
    for cells in list(workbook.worksheets[0].iter_rows(values_only=True))[1:]:
        cells = list(cells)
        while cells and cells[-1] is None:
            cells.pop()
        if cells:
            rows.append(cells)
    workbook.close()
    return rows


def test_every_kind_of_cell_reads_as_openpyxl_reads_it(french: None) -> None:
    strings = [*HEADER, "Savon &amp; miel", "Bougie"]
    sheet = header_row() + (
        '<row r="2">'
        f'<c r="A2" t="s"><v>{len(HEADER)}</v></c>'
        '<c r="B2" t="inlineStr"><is><r><rPr><b/></rPr><t>Gras</t></r>'
        '<r><t xml:space="preserve"> et fin</t></r>'
        '<rPh sb="0" eb="1"><t>lecture</t></rPh></is></c>'
        '<c r="C2"><v>12.5</v></c><c r="D2" t="b"><v>1</v></c>'
        '<c r="E2" s="1"><v>46154</v></c><c r="F2" s="2"><v>0.4375</v></c>'
        '<c r="G2"><f>C2*2</f><v>25</v></c><c r="H2" t="e"><v>#N/A</v></c>'
        '<c r="I2" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
        '<c r="K2" t="d"><v>2026-05-12T08:30:00</v></c><c r="L2" s="1"/>'
        '<c r="M2"><v>3</v></c><c r="N2" t="inlineStr"><is><t>=1+1</t></is></c>'
        "</row>"
        '<row r="4"><c r="A4"><f t="shared" ref="A4:A5" si="0">C4+1</f><v>1</v></c>'
        '<c r="B4"><v>1E3</v></c></row>'
        '<row r="5"><c r="A5"><f t="shared" si="0"/><v>2</v></c></row>'
        f'<row><c><v>7</v></c><c t="s"><v>{len(HEADER) + 1}</v></c></row>'
    )
    content = excel_like(sheet, strings)

    rows = read_rows(content)

    assert [number for number, _cells in rows] == [2, 4, 5, 6]
    assert [cells for _number, cells in rows] == openpyxl_rows(content)
    first = rows[0][1]
    assert first[:6] == [
        "Savon & miel",
        "Gras et fin",
        12.5,
        True,
        datetime.datetime(2026, 5, 12),
        datetime.time(10, 30),
    ]
    assert first[6:] == [
        "=C2*2",
        "#N/A",
        '="a"&"b"',
        None,
        datetime.datetime(2026, 5, 12, 8, 30),
        None,
        3,
        "=1+1",
    ]
    assert rows[2][1] == ["=C5+1"] and rows[3][1] == [7, "Bougie"]


def test_a_workbook_with_shared_strings_imports(shop: Shop) -> None:
    """As Excel saves it: text in the shared-string table, numbers as numbers."""
    strings = [*HEADER, "BOU-1", "Bougie à la figue", "published", "Épicerie"]
    n = len(HEADER)
    sheet = header_row() + (
        f'<row r="2"><c r="A2" t="s"><v>{n}</v></c><c r="B2" t="s"><v>{n + 1}</v></c>'
        f'<c r="D2" t="s"><v>{n + 3}</v></c><c r="E2"><v>20</v></c>'
        '<c r="F2"><v>12.5</v></c><c r="G2"><v>4</v></c>'
        f'<c r="N2" t="s"><v>{n + 2}</v></c></row>'
    )
    report = ops.apply_source(shop, ops.source_from_bytes(excel_like(sheet, strings), "c.xlsx"))

    assert report.ok and report.rows == 1, report.problems
    product = db.session.scalars(select(Product).where(Product.shop_id == shop.id)).one()
    variant = db.session.scalars(select(Variant).where(Variant.product_id == product.id)).one()
    assert (product.name, product.category, product.vat_rate_bp) == (
        "Bougie à la figue",
        "Épicerie",
        2000,
    )
    assert (variant.sku, variant.price_cents, variant.stock) == ("BOU-1", 1250, 4)


def test_a_sheet_declaring_entities_is_refused(shop: Shop) -> None:
    laughs = '<!DOCTYPE worksheet [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">]>'
    content = excel_like(header_row() + '<row r="2"><c r="A2"><v>1</v></c></row>', HEADER, laughs)

    report = ops.check_rows(shop, ops.source_from_bytes(content, "c.xlsx"))

    assert not report.ok and report.rows == 0
    assert report.problems[0]["row"] is None
    assert "illisible" in report.problems[0]["message"]


def test_a_cell_too_long_is_refused(shop: Shop) -> None:
    huge = "x" * (ops.MAX_RECORD_CHARS + 1)
    sheet = header_row() + f'<row r="2"><c r="A2" t="inlineStr"><is><t>{huge}</t></is></c></row>'

    report = ops.check_rows(shop, ops.source_from_bytes(excel_like(sheet, HEADER), "c.xlsx"))

    assert not report.ok
    assert "Cellule trop longue" in report.problems[-1]["message"]
