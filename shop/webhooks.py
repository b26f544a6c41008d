"""Stripe webhook endpoint."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/paiements")
