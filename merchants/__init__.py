"""Shops, opening hours, catalogue, catalogue import, merchant back office."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import commands, tasks, views  # noqa: F401 - tasks: registers the Celery tasks

    app.register_blueprint(views.bp)
    from marketplace.extensions import api

    from . import api as merchant_api

    api.register_blueprint(merchant_api.blp)
    commands.init_app(app)
