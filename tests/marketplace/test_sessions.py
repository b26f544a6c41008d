"""The signed-cookie sessions: a cookie verified once a minute, each request its own
copy, a forged cookie never accepted."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from marketplace.sessions import CookieSessions
from tests.helpers import csrf_token


def _cookie(app: Flask, content: dict[str, object]) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    return str(serializer.dumps(content))


def _open(app: Flask, cookie: str) -> object:
    name = app.config["SESSION_COOKIE_NAME"]
    with app.test_request_context("/", headers={"Cookie": f"{name}={cookie}"}) as ctx:
        return app.session_interface.open_session(app, ctx.request)


def test_each_request_gets_its_own_copy_of_a_kept_cookie(app: Flask) -> None:
    assert isinstance(app.session_interface, CookieSessions)
    cookie = _cookie(app, {"basket": {"12": 1}, "locale": "fr"})
    first = _open(app, cookie)
    assert first == {"basket": {"12": 1}, "locale": "fr"}
    first["basket"]["12"] = 99  # type: ignore[index]
    first["locale"] = "en"  # type: ignore[index]
    assert _open(app, cookie) == {"basket": {"12": 1}, "locale": "fr"}


def test_a_forged_or_altered_cookie_gives_an_empty_session(app: Flask) -> None:
    cookie = _cookie(app, {"_user_id": "1"})
    assert _open(app, cookie) == {"_user_id": "1"}  # kept from now on
    payload, _, signature = cookie.rpartition(".")
    altered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert _open(app, altered) == {}
    assert _open(app, altered) == {}  # and never kept
    other = Flask(__name__)
    other.secret_key = "another key"
    with other.app_context():
        foreign = other.session_interface.get_signing_serializer(other).dumps(  # type: ignore[attr-defined]
            {"_user_id": "1"}
        )
    assert _open(app, foreign) == {}


def test_the_session_a_request_changes_is_what_the_next_one_reads(client: FlaskClient) -> None:
    """Through the real cookie: each language switch (a new cookie) shows at once."""
    for locale, lang in (("en", 'lang="en"'), ("fr", 'lang="fr"'), ("en", 'lang="en"')):
        token = csrf_token(client, "/")
        response = client.post("/compte/langue", data={"locale": locale, "csrf_token": token})
        assert response.status_code == 302
        assert lang in client.get("/").text
