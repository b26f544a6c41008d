"""Merchant-side CLI commands: the demo territory, catalogue import and export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask import Flask

if TYPE_CHECKING:
    from .models import Shop


def init_app(app: Flask) -> None:
    from marketplace.commands import comptoir_cli

    comptoir_cli.add_command(load_demo)
    comptoir_cli.add_command(catalogue_cli)


@click.command("demo")
@click.option("--epci", default="200030674", show_default=True, help="EPCI code.")
def load_demo(epci: str) -> None:
    """Load the demo territory (idempotent): shops, products, one account per role."""
    from flask import current_app

    from marketplace import events
    from marketplace.extensions import db

    from .demo import load_demo as run

    summary = run(epci)
    # The domains after this one (Cityzens…) add their demo data on the same shops.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for _receiver, line in events.demo_loaded.send(app):
        if line:
            summary += f"\n{line}"
    db.session.commit()
    click.echo(summary)


@click.group("catalogue")
def catalogue_cli() -> None:
    """A shop's catalogue as a CSV or XLSX file."""


def _shop_by_slug(slug: str) -> Shop:
    from sqlalchemy import select

    from marketplace.extensions import db

    from .models import Shop

    shop = db.session.scalar(select(Shop).where(Shop.slug == slug))
    if shop is None:
        raise click.ClickException(f"no shop with slug {slug!r}")
    return shop


@catalogue_cli.command("import")
@click.argument("shop_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row, change nothing.")
def import_catalogue(shop_slug: str, file: str, dry_run: bool) -> None:
    """Import FILE (CSV or XLSX) into the shop: all rows or none."""
    from flask_babel import force_locale

    with force_locale("fr"):
        _import_catalogue(shop_slug, file, dry_run)


def _import_catalogue(shop_slug: str, file: str, dry_run: bool) -> None:
    from marketplace.extensions import db

    from .operations import imports as ops

    shop = _shop_by_slug(shop_slug)
    try:
        source = ops.source_from_path(file)
    except ops.ImportFileError as exc:
        raise click.ClickException(exc.message) from None
    total = ops.estimate_rows(source)
    label = "checking" if dry_run else "importing"
    with click.progressbar(length=total or 1, label=label, show_pos=True) as bar:
        done = 0

        def progress(rows: int) -> None:
            nonlocal done
            bar.update(max(0, min(rows, total) - done))
            done = max(done, min(rows, total))

        try:
            if dry_run:
                report = ops.check_rows(shop, source, progress=progress)
            else:
                report = ops.apply_source(shop, source, progress=progress)
        except BaseException:
            db.session.rollback()
            raise
    for problem in report.problems[:50]:
        where = f"row {problem['row']}" if problem["row"] else "file"
        column = f" [{problem['column']}]" if problem["column"] else ""
        click.echo(f"{problem['level']}: {where}{column}: {problem['message']}", err=True)
    shown = min(len(report.problems), 50)
    if report.error_count + report.warning_count > shown:
        click.echo(f"... and {report.error_count + report.warning_count - shown} more", err=True)
    summary = report.summary()
    click.echo(
        f"{report.rows} rows: {summary['products_created']} products created, "
        f"{summary['products_updated']} updated; {summary['variants_created']} variants "
        f"created, {summary['variants_updated']} updated; {summary['unchanged']} unchanged"
    )
    if not report.ok:
        db.session.rollback()
        raise click.ClickException(f"{report.error_count} errors: nothing imported")
    if dry_run:
        db.session.rollback()
        click.echo("dry run: nothing changed")
    else:
        db.session.commit()
        click.echo("imported")


@catalogue_cli.command("export")
@click.argument("shop_slug")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_catalogue(shop_slug: str, file: str) -> None:
    """Export the shop's catalogue to FILE (.xlsx, else CSV)."""
    from .operations import exports as ops

    shop = _shop_by_slug(shop_slug)
    total = ops.count_rows(shop.id)
    write = ops.write_xlsx if file.lower().endswith(".xlsx") else ops.write_csv
    with click.progressbar(length=total or 1, label="exporting", show_pos=True) as bar:
        done = 0

        def progress(rows: int) -> None:
            nonlocal done
            bar.update(rows - done)
            done = rows

        with open(file, "wb") as out:
            count = write(shop.id, out, progress)
    click.echo(f"{count} rows written to {file}")
