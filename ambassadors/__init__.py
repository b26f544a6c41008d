"""Cityzens: recommendations, referral links, attribution, rewards, wallet."""

from flask import Flask


def init_app(app: Flask) -> None:
    from marketplace import events
    from marketplace.extensions import api

    from . import api as cityzen_api
    from . import commands, demo, tasks, views
    from .operations import (
        on_order_placed,
        on_suborder_fulfilled,
        on_suborder_refunded,
        on_suborder_status_changed,
    )

    app.register_blueprint(views.bp)
    api.register_blueprint(cityzen_api.blp)
    # The shop never imports this package: it announces, the Cityzens listen
    # (weak=False: the receivers live as long as the module).
    events.order_placed.connect(on_order_placed, weak=False)
    events.suborder_fulfilled.connect(on_suborder_fulfilled, weak=False)
    events.suborder_refunded.connect(on_suborder_refunded, weak=False)
    events.suborder_status_changed.connect(on_suborder_status_changed, weak=False)
    events.demo_loaded.connect(demo.load_demo, weak=False)
    tasks.init_app(app)
    commands.init_app(app)
