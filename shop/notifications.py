"""E-mails to residents when their orders change, sent through the mail outbox."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Subscribe to the domain events that trigger an e-mail."""
