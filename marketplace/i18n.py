"""Locale choice (French first, English available), money and time display."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.numbers import format_currency as babel_format_currency
from flask import Flask, current_app, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

PARIS = ZoneInfo("Europe/Paris")


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return str(current_user.locale)
    return request.accept_languages.best_match(languages) or "fr"


def money(cents: int) -> str:
    """Format integer cents as euros in the current locale ("12,50 €")."""
    return _money(cents, str(get_locale()))


@lru_cache(maxsize=4096)
def _money(cents: int, locale: str) -> str:
    # Babel's currency formatting costs about a millisecond; pages repeat prices.
    return str(babel_format_currency(Decimal(cents) / 100, "EUR", locale=locale))


def local_time(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return str(format_datetime(value, fmt))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["get_locale"] = get_locale
