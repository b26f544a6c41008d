"""The collectivité's back office: recruitment, moderation, adoption, settlement."""

from flask import Flask


def init_app(app: Flask) -> None:
    # views_reconciliation and views_moderation add their routes to the admin
    # blueprint (views.bp).
    from . import (  # noqa: F401
        commands,
        tasks,
        views,
        views_moderation,
        views_reconciliation,
        views_shop,
    )
    from .settlement import models  # noqa: F401 - the tables, for migrations

    app.register_blueprint(views.bp)
    app.register_blueprint(views_shop.bp)
    tasks.init_app(app)
    commands.init_app(app)
