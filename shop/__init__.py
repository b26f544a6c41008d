"""Storefront, basket, checkout, orders and their state machine, pickup."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import views, webhooks

    app.register_blueprint(views.bp)
    app.register_blueprint(views.staff_bp)
    app.register_blueprint(webhooks.bp)
    views.init_app(app)
