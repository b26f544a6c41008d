"""Fulfilment options and timing, zones, couriers, delivery jobs, dispatch, parcels."""

from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace import events
    from marketplace.extensions import api

    from . import api as courier_api
    from . import api_carriers, tasks, views
    from .operations import jobs

    app.register_blueprint(views.bp)
    app.register_blueprint(views.zones_bp)
    app.register_blueprint(views.couriers_admin_bp)
    api.register_blueprint(courier_api.blp)
    api.register_blueprint(api_carriers.blp)
    # A job for each express sub-order the shop marks ready (weak=False: the
    # receiver lives as long as the module).
    events.suborder_ready.connect(jobs.on_suborder_ready, weak=False)
    tasks.init_app(app)
