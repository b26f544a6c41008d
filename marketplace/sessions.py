"""Flask's signed-cookie sessions, with a cookie verified once a minute per process
rather than on every request."""

from __future__ import annotations

import copy
import time
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    """The same cookie, signature and expiry as Flask's own. A cookie this process
    verified less than `kept_seconds` ago is not decoded and verified again: that is
    a tenth of what a storefront page served from the cache costs. Each request gets
    its own copy of the content, so what one request changes never reaches another;
    a cookie whose signature fails is never kept."""

    kept_seconds = 60.0
    most_kept = 20_000

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, dict[str, Any]]] = {}

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie or not app.secret_key:
            return super().open_session(app, request)
        now = time.monotonic()
        kept = self._kept.get(cookie)
        if kept is not None and kept[0] > now:
            return self.session_class(copy.deepcopy(kept[1]))
        session = super().open_session(app, request)
        if session:  # verified, and not the empty session a bad signature gives
            if len(self._kept) >= self.most_kept:
                self._kept.clear()
            self._kept[cookie] = (now + self.kept_seconds, copy.deepcopy(dict(session)))
        return session
