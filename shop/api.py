"""The shop's JSON API (flask-smorest): shops, products, search, basket, checkout, orders."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("shop_api", __name__, url_prefix="/api/v1", description="Storefront and orders")
