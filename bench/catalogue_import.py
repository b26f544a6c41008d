"""Catalogue import benchmark: the full import (dry run + apply on PostgreSQL) against
a plain parse of the same file, measured in the same run; time and peak memory.

    python -m bench.catalogue_import                 # 1,000 / 5,000 / 20,000 rows, CSV and XLSX
    python -m bench.catalogue_import --sizes 5000 --formats csv

Needs PostgreSQL on 127.0.0.1:5432 with a role allowed to create databases (as for
the tests; `BENCH_IMPORT_DATABASE_URL` to change it). Drops and creates the database
`comptoir_bench_import`, runs the migrations, then for each size and format:

1. writes a seeded file (products of 1 to 3 variants with options, EAN, weight,
   descriptions; French prices "12,50");
2. plain parse: `csv.reader` over the file (UTF-8, `;`) or openpyxl read-only
   `iter_rows(values_only=True)`, every cell touched;
3. full import into a new empty shop: `check_rows` (the dry run) then `apply_source`
   and the commit, through the same operations as the pages, the task and the CLI.

Times are measured without tracemalloc (the best of `--repeat` runs, each on a new
shop); peak memory in a separate run of each step under tracemalloc (Python
allocations only: what grows with the file if rows were held). Targets: import ≤ 3×
the parse; memory flat as the file grows (5,000 → 20,000 rows).
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/comptoir_bench_import"
WORDS = [
    "laine",
    "coton",
    "lin",
    "bio",
    "local",
    "artisanal",
    "savon",
    "miel",
    "confiture",
    "pull",
    "bonnet",
    "écharpe",
    "tablier",
    "bougie",
    "parfum",
    "figue",
    "vanille",
    "prune",
    "pruneau",
    "agen",
    "garonne",
    "marmande",
    "tonneins",
]
OPTIONS = (("taille", ("S", "M", "L")), ("couleur", ("bleu", "rouge", "vert")))


# -- the files ------------------------------------------------------------------------


def _ean(rng: random.Random) -> str:
    from stdnum import ean

    body = "3" + "".join(rng.choice("0123456789") for _ in range(11))
    return body + ean.calc_check_digit(body)


def generate_rows(n: int, seed: int = 47) -> list[list[Any]]:
    """n rows: products of one to three variants."""
    rng = random.Random(seed)  # noqa: S311 - seeded sample data
    rows: list[list[Any]] = []
    product = 0
    while len(rows) < n:
        product += 1
        name = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} n°{product}"
        description = " ".join(rng.choice(WORDS) for _ in range(18)).capitalize() + "."
        category = rng.choice(("Épicerie", "Maison", "Vêtements", "Cadeaux"))
        vat = rng.choice(("20", "10", "5,5", "2,1"))
        status = rng.choice(("draft", "published"))
        option_name, values = rng.choice(OPTIONS)
        count = rng.randint(1, 3)
        for index in range(count):
            if len(rows) >= n:
                break
            cents = rng.randint(100, 20_000)
            rows.append(
                [
                    f"SKU-{product:06d}-{index}",
                    name,
                    description,
                    category,
                    vat,
                    f"{cents // 100},{cents % 100:02d}",
                    str(rng.randint(0, 50)),
                    _ean(rng),
                    str(rng.randint(50, 3_000)),
                    option_name if count > 1 else "",
                    values[index] if count > 1 else "",
                    "",
                    "",
                    status,
                ]
            )
    return rows


def write_file(path: Path, rows: list[list[Any]], fmt: str) -> None:
    from merchants.operations.imports import COLUMNS

    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter=";")
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Catalogue")
    sheet.append(list(COLUMNS))
    for r in rows:
        sheet.append(r)
    workbook.save(path)


# -- the two things measured ----------------------------------------------------------


def plain_parse(path: Path, fmt: str) -> int:
    """Read every cell of the file, nothing else."""
    cells = 0
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                cells += len(row)
        return cells
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    for row in workbook.worksheets[0].iter_rows(values_only=True):
        cells += len(row)
    workbook.close()
    return cells


class Shops:
    """A new empty shop for each import."""

    def __init__(self) -> None:
        from marketplace.extensions import db
        from marketplace.models import Commune, Territory
        from merchants.models import Trade

        territory = Territory(slug="bench", name="Bench")
        commune = Commune(
            territory=territory,
            insee_code="47157",
            name="Marmande",
            slug="marmande",
            latitude=44.5,
            longitude=0.16,
            postcodes=["47200"],
        )
        trade = Trade(slug="bench", name_fr="Bench", name_en="Bench")
        db.session.add_all([territory, commune, trade])
        db.session.flush()
        self.ids = (territory.id, commune.id, trade.id)
        self.counter = itertools.count(1)
        db.session.commit()

    def new(self) -> Any:
        from marketplace.extensions import db
        from merchants.models import Shop, ShopStatus

        n = next(self.counter)
        territory_id, commune_id, trade_id = self.ids
        shop = Shop(
            territory_id=territory_id,
            commune_id=commune_id,
            trade_id=trade_id,
            slug=f"bench-{n}",
            name=f"Bench {n}",
            siret="73282932000074",
            status=ShopStatus.APPROVED,
            street="1 rue de la Paix",
            postcode="47200",
            latitude=44.5,
            longitude=0.16,
        )
        db.session.add(shop)
        db.session.commit()
        return shop


def full_import(shop: Any, path: Path) -> tuple[float, float, Any]:
    """(dry run seconds, apply seconds, apply report) — the apply is committed."""
    from marketplace.extensions import db
    from merchants.operations import imports as ops

    source = ops.source_from_path(path)
    started = time.perf_counter()
    report = ops.check_rows(shop, source)
    dry = time.perf_counter() - started
    assert report.ok, report.problems[:5]
    started = time.perf_counter()
    applied = ops.apply_source(shop, source)
    db.session.commit()
    apply_time = time.perf_counter() - started
    assert applied.ok and applied.variants_created == report.rows, applied.summary()
    return dry, apply_time, applied


def timed(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def peak_of(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- the run --------------------------------------------------------------------------


def prepare_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best kept)")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")

    from flask_babel import force_locale
    from flask_migrate import upgrade

    from marketplace import create_app
    from marketplace.config import database_url

    url = database_url(args.database_url)
    prepare_database(url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "CELERY": {"broker_url": "memory://", "task_always_eager": True},
        }
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp, app.app_context(), force_locale("fr"):
        upgrade()
        shops = Shops()
        for fmt in formats:
            for size in sizes:
                path = Path(tmp) / f"catalogue-{size}.{fmt}"
                write_file(path, generate_rows(size), fmt)
                parse_s = timed(lambda p=path, f=fmt: plain_parse(p, f), args.repeat)
                runs = [full_import(shops.new(), path) for _ in range(args.repeat)]
                dry_s = min(r[0] for r in runs)
                apply_s = min(r[1] for r in runs)
                parse_peak = peak_of(lambda p=path, f=fmt: plain_parse(p, f))
                import_peak = peak_of(lambda p=path: full_import(shops.new(), p))
                results.append(
                    (
                        fmt,
                        size,
                        path.stat().st_size,
                        parse_s,
                        dry_s,
                        apply_s,
                        parse_peak,
                        import_peak,
                    )
                )
                print(
                    f"{fmt:4} {size:6d} rows: parse {parse_s * 1000:7.0f} ms, dry run "
                    f"{dry_s * 1000:7.0f} ms, apply {apply_s * 1000:7.0f} ms",
                    file=sys.stderr,
                )

    print()
    print(
        "format   rows  file KB | parse ms  dry run ms  apply ms  import ms  import/parse "
        "| parse peak KB  import peak KB"
    )
    for fmt, size, nbytes, parse_s, dry_s, apply_s, parse_peak, import_peak in results:
        total = dry_s + apply_s
        print(
            f"{fmt:6} {size:6d} {nbytes / 1024:8.0f} | {parse_s * 1000:8.0f} {dry_s * 1000:11.0f} "
            f"{apply_s * 1000:9.0f} {total * 1000:10.0f} {total / parse_s:12.1f}× "
            f"| {parse_peak / 1024:13.0f} {import_peak / 1024:15.0f}"
        )
    print()
    print("targets: import ≤ 3× parse; import peak memory flat from 1,000 to 20,000 rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
