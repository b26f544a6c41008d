"""The collectivité's back office: recruitment, moderation, adoption, settlement."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import tasks, views, views_shop
    from .settlement import models  # noqa: F401 - the tables, for migrations

    app.register_blueprint(views.bp)
    app.register_blueprint(views_shop.bp)
    tasks.init_app(app)
