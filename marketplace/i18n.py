"""Locale choice (French first, English available), money and time display."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.numbers import format_currency as babel_format_currency
from babel.support import NullTranslations
from flask import Flask, current_app, g, request, session
from flask_babel import format_datetime, get_locale, get_translations
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


def _translations() -> NullTranslations:
    """Flask-Babel's translations for the current locale, looked up once per request
    and locale: its own lookup walks the request context three times, and a page
    calls `_()` dozens of times (a fifth of a product page's render). Keyed by the
    locale object, so `force_locale` (a mail in the resident's language) still
    switches."""
    locale = get_locale()
    kept = g.get("_comptoir_translations")
    if kept is None or kept[0] is not locale:
        kept = g._comptoir_translations = (locale, get_translations())
    return kept[1]


def init_app(app: Flask) -> None:
    """After Flask-Babel's own init_app: its template callables are replaced."""
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )
