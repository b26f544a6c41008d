"""Merchant-side CLI commands: the demo territory."""

from __future__ import annotations

import click
from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.commands import comptoir_cli

    comptoir_cli.add_command(load_demo)


@click.command("demo")
@click.option("--epci", default="200030674", show_default=True, help="EPCI code.")
def load_demo(epci: str) -> None:
    """Load the demo territory (idempotent): shops, products, one account per role."""
    from marketplace.extensions import db

    from .demo import load_demo as run

    summary = run(epci)
    db.session.commit()
    click.echo(summary)
