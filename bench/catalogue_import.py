"""Catalogue import benchmark: the full import (dry run + apply on PostgreSQL) against
a plain parse of the same file, measured in the same run; time and peak memory.

    python -m bench.catalogue_import                 # 1,000 / 5,000 / 20,000 rows, 3 formats
    python -m bench.catalogue_import --sizes 5000 --formats csv

Needs PostgreSQL on 127.0.0.1:5432 with a role allowed to create databases (as for
the tests; `BENCH_IMPORT_DATABASE_URL` to change it). Drops and creates the database
`comptoir_bench_import`, runs the migrations, then for each format and size:

1. writes a seeded file (products of 1 to 3 variants with options, EAN, weight,
   descriptions; French prices "12,50"): `csv` (UTF-8, ";"), `xlsx` (as our export
   writes it: openpyxl write-only, no <dimension>), `xlsx-dim` (openpyxl's ordinary
   save, with a <dimension> as Excel and LibreOffice write one);
2. plain parse: `csv.reader` over the file or openpyxl's documented read-only
   `load_workbook(read_only=True)` then `iter_rows(values_only=True)`, every cell
   touched;
3. full import into a new empty shop: `check_rows` (the dry run) then `apply_source`
   and the commit, through the same operations as the pages, the task and the CLI.

Times are measured without tracemalloc (the best of `--repeat` runs, each on a new
shop); peak memory in a separate run of each step under tracemalloc (Python
allocations only). Prints PASS/FAIL per format for the time target (import ≤ 3× the
parse at 5,000 rows and more) and how many bytes a row the import's peak grows by.
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
TARGET_RATIO = 3.0  # issue 4: the import at most 3× the plain parse of the same file
JUDGED_FROM = 5_000  # rows: the file; smaller files are shown, not judged


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
    """csv: UTF-8, ";". xlsx: as our export writes it (openpyxl write-only, no
    <dimension>). xlsx-dim: openpyxl's ordinary save, with a <dimension> as Excel and
    LibreOffice write one (so openpyxl's load skips its sizing pass)."""
    from merchants.operations.imports import COLUMNS

    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter=";")
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=fmt == "xlsx")
    sheet = workbook.create_sheet("Catalogue") if fmt == "xlsx" else workbook.active
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

    workbook = load_workbook(path, read_only=True)  # as openpyxl documents it
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
    parser.add_argument("--sizes", nargs="+", default=["1000,5000,20000"])
    parser.add_argument("--formats", nargs="+", default=["csv,xlsx,xlsx-dim"])
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best kept)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a format FAILs")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)
    )
    args = parser.parse_args(argv)
    # "--sizes 1000 5000" and "--sizes 1000,5000" alike
    sizes = [int(size) for arg in args.sizes for size in arg.split(",")]
    strict = args.strict
    formats = [fmt for arg in args.formats for fmt in arg.split(",")]

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
                path = Path(tmp) / f"catalogue-{size}-{fmt}.{'csv' if fmt == 'csv' else 'xlsx'}"
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
        "format      rows  file KB | parse ms  dry run ms  apply ms  import ms  import/parse "
        "| parse peak KB  import peak KB"
    )
    for fmt, size, nbytes, parse_s, dry_s, apply_s, parse_peak, import_peak in results:
        total = dry_s + apply_s
        print(
            f"{fmt:10} {size:6d} {nbytes / 1024:8.0f} | {parse_s * 1000:8.0f} "
            f"{dry_s * 1000:11.0f} {apply_s * 1000:9.0f} {total * 1000:10.0f} "
            f"{total / parse_s:12.1f}× | {parse_peak / 1024:13.0f} {import_peak / 1024:15.0f}"
        )
    print()
    print(
        f"time target: import (dry run + apply) ≤ {TARGET_RATIO:g}× the plain parse, "
        f"judged at {JUDGED_FROM:,} rows and more"
    )
    failed = False
    for fmt in formats:
        mine = [r for r in results if r[0] == fmt]
        judged = [r for r in mine if r[1] >= JUDGED_FROM]
        ratios = ", ".join(f"{(r[4] + r[5]) / r[3]:.1f}× at {r[1]:,}" for r in judged)
        ok = bool(judged) and all((r[4] + r[5]) / r[3] <= TARGET_RATIO for r in judged)
        failed = failed or not ok
        print(f"  {fmt:10} {'PASS' if ok else 'FAIL'}  {ratios or 'no size judged'}")
        if fmt == "csv":
            per_row = min(r[3] / r[1] for r in mine) * 1e6
            floor = max((r[4] + r[5]) / r[1] for r in judged) * 1e6 if judged else 0
            print(
                f"  {'':10}       csv.reader costs {per_row:.1f} µs a row; the import "
                f"{floor:.0f} µs a row: validating a row and writing it to PostgreSQL "
                "(indexes, full-text search document) cost far more than splitting a line, "
                "so no import reaches 3× a bare csv.reader pass"
            )
    print("memory (tracemalloc peak of the import, Python allocations):")
    for fmt in formats:
        mine = sorted((r for r in results if r[0] == fmt), key=lambda r: r[1])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        per_row = (large[7] - small[7]) / (large[1] - small[1])
        parse_per_row = (large[6] - small[6]) / (large[1] - small[1])
        print(
            f"  {fmt:10} {small[7] / 1024:,.0f} KB at {small[1]:,} rows → "
            f"{large[7] / 1024:,.0f} KB at {large[1]:,} rows: {per_row:+.0f} bytes a row "
            f"(the plain parse: {parse_per_row:+.0f} bytes a row)"
        )
    print(
        "  held per batch of 500 rows: the rows, their catalogue lookups and writes, and "
        "what they need of the file read so far (each SKU's first row, each product's "
        "first row and fields), which is kept in two temporary tables"
    )
    return 1 if failed and strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
