"""Shops, opening hours, catalogue, catalogue import, merchant back office."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import commands, tasks, views  # noqa: F401 - tasks: registers the Celery tasks

    app.register_blueprint(views.bp)
    commands.init_app(app)
