"""One JSON error shape for the API, friendly HTML pages for people."""

from __future__ import annotations

import logging
from typing import Any

from babel.units import format_unit
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import (
    Conflict,
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
)

from .extensions import db

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def json_error(
    exc: HTTPException, errors: Any = None, message: str | None = None
) -> tuple[Response, int]:
    """The flask-smorest shape: {"code", "status", "message", "errors"}."""
    code = exc.code or 500
    body: dict[str, Any] = {"code": code, "status": exc.name}
    if message or exc.description:
        body["message"] = message or exc.description
    if errors:
        body["errors"] = errors
    return jsonify(body), code


def handle_http(exc: HTTPException) -> Any:
    if wants_json():
        data = getattr(exc, "data", None) or {}
        return json_error(exc, data.get("messages"), data.get("message"))
    template = f"errors/{exc.code}.html" if exc.code in (403, 404) else "errors/error.html"
    return render_template(template, error=exc), exc.code


def handle_integrity(exc: IntegrityError) -> Any:
    db.session.rollback()
    log.info("integrity error: %s", exc.orig.__class__.__name__)
    return handle_http(Conflict("Cette ressource existe déjà ou est liée à une autre. / Conflict."))


def handle_csrf(exc: CSRFError) -> Any:
    return handle_http(exc)


SIZE_UNITS = ((1024 * 1024, "digital-megabyte"), (1024, "digital-kilobyte"), (1, "digital-byte"))


def handle_too_large(exc: RequestEntityTooLarge) -> Any:
    """Say which limit the body broke, rather than Werkzeug's English sentence."""
    return handle_http(RequestEntityTooLarge(_too_large_message()))


def _too_large_message() -> str:
    limit, length = request.max_content_length, request.content_length
    if limit is None or (length is not None and length <= limit):
        # The body fits: one form field or the number of parts broke Flask's own limits.
        return _("Un champ du formulaire est trop long.")
    return _("Envoi trop volumineux : %(size)s au plus.", size=size_text(limit))


def size_text(limit: int) -> str:
    """A byte count as people read it, in their language ("10 Mo", "10 MB")."""
    step, unit = next((s, u) for s, u in SIZE_UNITS if limit >= s or s == 1)
    return str(format_unit(limit // step, unit, length="short", locale=str(get_locale())))


def handle_unexpected(exc: Exception) -> Any:
    db.session.rollback()
    log.exception("unhandled error")
    return handle_http(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(RequestEntityTooLarge, handle_too_large)
    app.register_error_handler(IntegrityError, handle_integrity)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
