"""Courier pages (phone first)."""

from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.models import Role
from marketplace.security import role_required

bp = Blueprint("delivery", __name__, url_prefix="/livreur", template_folder="templates")


@bp.get("/")
@role_required(Role.COURIER)
def courier_home() -> str:
    """The courier's jobs; delivery jobs arrive with the logistics issue."""
    return render_template("delivery/courier_home.html")
