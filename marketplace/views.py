"""Accounts: sign-up, log-in, log-out, password reset, language choice."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, session, url_for
from werkzeug.wrappers import Response

from .models import Role

bp = Blueprint("auth", __name__, url_prefix="/compte")


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> str:
    return "TODO"


@bp.post("/deconnexion")
def logout() -> Response:
    return redirect(url_for("storefront.home"))


@bp.route("/inscription", methods=["GET", "POST"])
def signup() -> str:
    return "TODO"


@bp.post("/langue")
def set_language() -> Response:
    locale = request.form.get("locale")
    if locale in ("fr", "en"):
        session["locale"] = locale
    return redirect(request.referrer or url_for("storefront.home"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def kernel_globals() -> dict[str, object]:
        return {"Role": Role}
