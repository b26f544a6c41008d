"""Catalogue export: the import's own format in CSV and XLSX, protected against
formula injection, and round trips (export → dry run shows no change; export →
import → export gives the same file), through the pages and the CLI."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import Product, ProductStatus, Shop
from merchants.operations import exports
from merchants.operations import imports as ops
from tests.factories import (
    DEFAULT_PASSWORD,
    ProductFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import login

GOOD_EAN = "4006381333931"


@pytest.fixture(autouse=True)
def french(app: Flask) -> Any:
    from flask_babel import force_locale

    with force_locale("fr"):
        yield


@pytest.fixture
def shop(app: Flask) -> Shop:
    """A shop whose catalogue has what a file finds hard: accents, quotes, new lines,
    options, VAT 5.5, a price with cents, two products of the same name, formulas."""
    shop = ShopFactory()
    pull = ProductFactory(
        shop=shop,
        name="Pull « marin »",
        slug="pull-marin",
        category="Pulls",
        description='Laine; "épaisse"\nSur deux lignes.',
        vat_rate_bp=2000,
    )
    VariantFactory(
        product=pull,
        sku="PULL-M",
        price_cents=5990,
        stock=4,
        options={"taille": "M", "couleur": "bleu"},
        ean=GOOD_EAN,
        weight_grams=450,
    )
    VariantFactory(
        product=pull,
        sku="PULL-L",
        price_cents=5990,
        stock=0,
        options={"taille": "L", "couleur": "bleu"},
    )
    twin = ProductFactory(
        shop=shop,
        name="Pull « marin »",
        slug="pull-marin-2",
        status=ProductStatus.DRAFT,
        vat_rate_bp=2000,
    )
    VariantFactory(product=twin, sku="PULL-2", price_cents=100, stock=1)
    jam = ProductFactory(
        shop=shop,
        name="Confiture",
        slug="confiture",
        vat_rate_bp=550,
        status=ProductStatus.ARCHIVED,
    )
    VariantFactory(product=jam, sku="CONF", price_cents=650, stock=12)
    evil = ProductFactory(
        shop=shop,
        name='=HYPERLINK("http://x")',
        slug="evil",
        description="@cmd",
        category="+1",
        vat_rate_bp=210,
    )
    VariantFactory(product=evil, sku="-EVIL", price_cents=1, stock=0)
    return shop


def export_csv(shop: Shop) -> bytes:
    out = io.BytesIO()
    exports.write_csv(shop.id, out)
    return out.getvalue()


def export_xlsx(shop: Shop) -> bytes:
    out = io.BytesIO()
    exports.write_xlsx(shop.id, out)
    return out.getvalue()


def xlsx_cells(content: bytes) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(content), read_only=True)
    return [tuple(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]


def test_csv_export_format(shop: Shop) -> None:
    content = export_csv(shop)
    assert content.startswith(b"\xef\xbb\xbfsku;product_name;")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert [r["sku"] for r in rows] == ["PULL-M", "PULL-L", "PULL-2", "CONF", "'-EVIL"]
    first = rows[0]
    assert (first["price"], first["vat_rate"], first["ean"], first["weight_grams"]) == (
        "59,90",
        "20",
        GOOD_EAN,
        "450",
    )
    assert (first["option1_name"], first["option1_value"], first["option2_value"]) == (
        "taille",
        "M",
        "bleu",
    )
    assert first["product_ref"] == "pull-marin" and rows[2]["product_ref"] == "pull-marin-2"
    assert rows[3]["vat_rate"] == "5,5" and rows[3]["status"] == "archived"


def test_csv_export_protects_formula_cells(shop: Shop) -> None:
    rows = list(csv.DictReader(io.StringIO(export_csv(shop).decode("utf-8-sig")), delimiter=";"))
    evil = rows[-1]
    assert evil["product_name"] == '\'=HYPERLINK("http://x")'
    assert (evil["description"], evil["category"], evil["sku"]) == ("'@cmd", "'+1", "'-EVIL")
    for r in rows:
        for column in ops.TEXT_COLUMNS:
            assert not (r.get(column) or "x").startswith(ops.FORMULA_CHARS), (column, r)


def test_xlsx_export_writes_formula_text_as_text(shop: Shop) -> None:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(export_xlsx(shop)))
    sheet = workbook.worksheets[0]
    evil = next(iter(sheet.iter_rows(min_row=6, max_row=6)))
    assert evil[1].value == '=HYPERLINK("http://x")' and evil[1].data_type == "s"
    assert [c.value for c in next(sheet.iter_rows(max_row=1))] == list(ops.ALL_COLUMNS)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_dry_run_shows_no_change(shop: Shop, fmt: str) -> None:
    content = export_csv(shop) if fmt == "csv" else export_xlsx(shop)
    report = ops.check_rows(shop, ops.source_from_bytes(content, f"c.{fmt}"))
    assert report.ok, report.problems
    assert report.changes == 0 and report.unchanged == 5


def test_csv_export_import_export_gives_the_same_file(shop: Shop) -> None:
    first = export_csv(shop)
    assert ops.apply_source(shop, ops.source_from_bytes(first, "c.csv")).ok
    assert export_csv(shop) == first


def test_xlsx_export_import_export_gives_the_same_cells(shop: Shop) -> None:
    first = export_xlsx(shop)
    assert ops.apply_source(shop, ops.source_from_bytes(first, "c.xlsx")).ok
    assert xlsx_cells(export_xlsx(shop)) == xlsx_cells(first)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_catalogue_moves_to_an_empty_shop_unchanged(shop: Shop, fmt: str) -> None:
    content = export_csv(shop) if fmt == "csv" else export_xlsx(shop)
    other = ShopFactory()
    report = ops.apply_source(other, ops.source_from_bytes(content, f"c.{fmt}"))
    assert report.ok, report.problems
    assert (report.products_created, report.variants_created) == (4, 5)
    if fmt == "csv":
        assert export_csv(other) == content
    else:
        assert xlsx_cells(export_xlsx(other)) == xlsx_cells(content)
    names = db.session.scalars(
        select(Product.name).where(Product.shop_id == other.id).order_by(Product.id)
    ).all()
    assert names[-1] == '=HYPERLINK("http://x")'  # text again, without the apostrophe


def test_templates_hold_the_header_and_import_as_empty(app: Flask) -> None:
    csv_template = exports.template_csv()
    assert csv_template.decode("utf-8-sig").strip() == ";".join(ops.ALL_COLUMNS)
    xlsx_template = exports.template_xlsx()
    assert xlsx_cells(xlsx_template) == [tuple(ops.ALL_COLUMNS)]
    shop = ShopFactory()
    for content, name in [(csv_template, "m.csv"), (xlsx_template, "m.xlsx")]:
        report = ops.check_rows(shop, ops.source_from_bytes(content, name))
        assert report.ok and report.rows == 0


# -- pages and CLI ------------------------------------------------------------------------


@pytest.fixture
def merchant(app: Flask, client: FlaskClient, shop: Shop) -> SimpleNamespace:
    user = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, user)
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    return SimpleNamespace(user=user, shop=shop, base=f"/boutique/{shop.id}/catalogue")


def test_export_and_template_downloads(client: FlaskClient, merchant: SimpleNamespace) -> None:
    response = client.get(f"{merchant.base}/export.csv")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data == export_csv(merchant.shop)
    response = client.get(f"{merchant.base}/export.xlsx")
    assert response.status_code == 200
    assert xlsx_cells(response.data) == xlsx_cells(export_xlsx(merchant.shop))
    assert client.get(f"{merchant.base}/modele.csv").data == exports.template_csv()
    assert client.get(f"{merchant.base}/modele.xlsx").status_code == 200
    assert client.get(f"{merchant.base}/export.pdf").status_code == 404


def test_cli_export_and_import(app: Flask, shop: Shop, tmp_path: Any) -> None:
    db.session.commit()  # the CLI rolls back its dry run: keep the fixture's rows
    runner = app.test_cli_runner()
    path = tmp_path / "catalogue.csv"
    result = runner.invoke(args=["comptoir", "catalogue", "export", shop.slug, str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == export_csv(shop)
    content = path.read_text("utf-8-sig").replace("59,90", "49,90")
    path.write_text(content, "utf-8-sig")
    result = runner.invoke(
        args=["comptoir", "catalogue", "import", shop.slug, str(path), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "2 updated" in result.output and "dry run" in result.output
    assert db.session.scalar(select(Product.id).where(Product.slug == "pull-marin"))
    result = runner.invoke(args=["comptoir", "catalogue", "import", shop.slug, str(path)])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output
    assert b"49,90" in export_csv(shop)
    bad = tmp_path / "bad.csv"
    bad.write_text("sku;product_name\nA;B\n", "utf-8")
    result = runner.invoke(args=["comptoir", "catalogue", "import", shop.slug, str(bad)])
    assert result.exit_code == 1 and "Colonnes manquantes" in result.output
