"""Kernel CLI commands; each domain registers its own in its init_app."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

comptoir_cli = AppGroup("comptoir", help="Comptoir administration commands.")


def init_app(app: Flask) -> None:
    from . import payments, territory

    territory.register_commands(comptoir_cli)
    payments.register_commands(comptoir_cli)
    app.cli.add_command(comptoir_cli)


@comptoir_cli.command("check")
def check() -> None:
    """Print the active configuration, secrets hidden."""
    from flask import current_app

    cfg = current_app.config
    click.echo(f"env: {cfg['ENV_NAME']}")
    click.echo(f"database: {cfg['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    click.echo(f"tasks: {'in-process' if cfg['CELERY']['task_always_eager'] else 'Redis'}")
    click.echo(f"stripe api: {cfg['STRIPE_API_BASE'] or 'api.stripe.com'}")
