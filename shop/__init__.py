"""Storefront, basket, checkout, orders and their state machine, pickup."""

from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace.extensions import api

    from . import api as shop_api
    from . import api_staff, notifications, tasks, views, webhooks
    from .operations import delivery_sync, parcels

    app.register_blueprint(views.bp)
    app.register_blueprint(views.staff_bp)
    app.register_blueprint(webhooks.bp)
    api.register_blueprint(shop_api.blp)
    api.register_blueprint(api_staff.blp)
    views.init_app(app)
    notifications.init_app(app)
    tasks.init_app(app)
    delivery_sync.connect()
    parcels.connect()
