"""The Cityzens' CLI command: credit the rewards due now (what the hourly task does)."""

from __future__ import annotations

import click
from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.commands import comptoir_cli

    comptoir_cli.add_command(credit_rewards)


@click.command("credit-rewards")
def credit_rewards() -> None:
    """Credit to the wallets the Cityzens' rewards whose withdrawal period has passed
    (idempotent: a reward is credited once however many times this runs)."""
    from marketplace.extensions import task_transaction

    from .operations import credit_due_rewards

    with task_transaction():  # one transaction, as the hourly task
        count = credit_due_rewards()
    click.echo(f"{count} reward(s) credited")
