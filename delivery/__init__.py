"""Fulfilment options and timing, zones, couriers, delivery jobs, dispatch, parcels."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import views

    app.register_blueprint(views.bp)
    app.register_blueprint(views.zones_bp)
