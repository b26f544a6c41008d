"""Merchant back office pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("merchants", __name__, url_prefix="/boutique", template_folder="templates")


@bp.get("/commandes")
def orders() -> str:
    return "orders"
