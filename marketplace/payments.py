"""The Stripe adapter (stripe-python), and the local test server for the demo."""

from __future__ import annotations

from flask.cli import AppGroup


def register_commands(group: AppGroup) -> None:
    """Register `flask comptoir stripe-local`."""
