"""The collectivité's back office: recruitment, moderation, adoption, settlement."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import views

    app.register_blueprint(views.bp)
