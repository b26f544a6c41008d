"""The collectivité's CLI commands: reconciliation of the ledger with Stripe."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.commands import comptoir_cli

    comptoir_cli.add_command(reconcile)


def _eur(cents: int) -> str:
    return f"{cents / 100:.2f} EUR"


@click.command("reconcile")
@click.option(
    "--from",
    "first",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (Europe/Paris), YYYY-MM-DD. Default: yesterday.",
)
@click.option(
    "--to",
    "last",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last day, included (Europe/Paris), YYYY-MM-DD. Default: the first day.",
)
def reconcile(first: datetime | None, last: datetime | None) -> None:
    """Compare the ledger with Stripe's balance transactions (payments, refunds,
    transfers) for a period and store the report; print every difference. Exits
    with status 1 when there is a difference."""
    from marketplace.extensions import db
    from marketplace.payments import PaymentError

    from .settlement import reconciliation

    if first is None and last is not None:
        raise click.BadParameter("--to needs --from.", param_hint="--to")
    if first is None:
        start, end = reconciliation.previous_day()
    else:
        day_one: date = first.date()
        day_last: date = last.date() if last else day_one
        if day_last < day_one:
            raise click.BadParameter("--to is before --from.", param_hint="--to")
        start, end = reconciliation.days(day_one, day_last)
    try:
        report = reconciliation.reconcile(start, end)
        db.session.commit()
    except PaymentError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{start.isoformat()} → {end.isoformat()}: "
        f"Stripe {report.stripe_count} ({_eur(report.stripe_cents)}), "
        f"ledger {report.ledger_count} ({_eur(report.ledger_cents)}), "
        f"{report.difference_count} difference(s)"
    )
    for diff in report.differences:
        stripe = "-" if diff.stripe_cents is None else _eur(diff.stripe_cents)
        booked = "-" if diff.ledger_cents is None else _eur(diff.ledger_cents)
        click.echo(
            f"  {diff.kind.value} {diff.object_type} {diff.stripe_id or '?'} "
            f"stripe={stripe} ledger={booked} ref={diff.ledger_reference or '-'}"
        )
    if report.difference_count:
        raise SystemExit(1)
