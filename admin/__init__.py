"""The collectivité's back office: recruitment, moderation, adoption, settlement."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import tasks, views
    from .settlement import models  # noqa: F401 - the tables, for migrations

    app.register_blueprint(views.bp)
    tasks.init_app(app)
