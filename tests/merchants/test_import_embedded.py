"""The catalogue import in the embedded mode (SQLite): dry run, all-or-nothing apply
across batches, and a failed run leaving nothing behind that stops the next one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from merchants.models import Product, Variant
from merchants.operations import imports as ops
from tests.factories import ShopFactory
from tests.helpers import embedded_app
from tests.merchants.test_import import csv_bytes, errors_of, row


def test_import_on_sqlite(
    tmp_path: Path, restore_celery: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_babel import force_locale
    from flask_migrate import upgrade

    from merchants.operations.imports import importer

    monkeypatch.setattr(importer, "BATCH_ROWS", 2)  # the file's state crosses batches
    app = embedded_app(tmp_path / "embedded.sqlite3")
    rows = [
        row(
            sku=f"S-{i}",
            product_name=f"Savon {i // 2}",
            option1_name="parfum",
            option1_value=f"P{i}",
        )
        for i in range(6)
    ]
    with app.app_context(), force_locale("fr"):
        upgrade()
        shop = ShopFactory()
        db.session.commit()

        # stopped half-way by a line it cannot read: the next runs start afresh
        unreadable = csv_bytes(rows) + b";x" * (ops.MAX_COLUMNS + 1) + b"\n"
        report = ops.check_rows(shop, ops.source_from_bytes(unreadable, "c.csv"))
        assert "trop de colonnes" in report.problems[-1]["message"]

        bad = csv_bytes([*rows, row(sku="S-1", product_name="Savon 0")])
        assert errors_of(ops.check_rows(shop, ops.source_from_bytes(bad, "c.csv"))) == [(8, "sku")]
        report = ops.apply_source(shop, ops.source_from_bytes(bad, "c.csv"))
        assert not report.ok
        db.session.commit()

        report = ops.apply_source(shop, ops.source_from_bytes(csv_bytes(rows), "c.csv"))
        db.session.commit()

        # all created now: the refused apply before it wrote nothing
        assert report.ok and report.products_created == 3, report.problems
        variants = db.session.scalar(
            select(func.count())
            .select_from(Variant)
            .join(Product)
            .where(Product.shop_id == shop.id)
        )
        assert variants == 6
        db.session.remove()
    app.extensions["sqlalchemy_engine"].dispose()
