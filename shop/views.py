"""Storefront pages: territory home, shop, basket, checkout, the resident's orders."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("storefront", __name__, template_folder="templates")


@bp.get("/")
def home() -> str:
    return "home"


@bp.get("/panier")
def basket() -> str:
    return "basket"


@bp.get("/commandes")
def my_orders() -> str:
    return "orders"


def init_app(app: Flask) -> None:
    pass
