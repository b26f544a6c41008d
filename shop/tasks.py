"""Thin Celery tasks of the shop domain, and their schedule."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Add the shop's periodic tasks to the beat schedule."""
