"""Accounts: sign-up, log-in, log-out, password reset, role gating."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from marketplace import operations, views
from marketplace.extensions import db
from marketplace.models import MailOutbox, Role, User
from marketplace.security import find_user_by_email
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import csrf_token, unique_email

LOGIN = "/compte/connexion"
SIGNUP = "/compte/inscription"
FORGOT = "/compte/mot-de-passe-oublie"
ACCOUNT = "/compte/"
NEW_PASSWORD = "violet marmande tomate pluie"


@pytest.fixture
def mail_folder(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(app.config, "MAIL_FOLDER", str(tmp_path))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return tmp_path


def new_client(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser, of the same class as the `client` fixture."""
    return type(client)(app, app.response_class, use_cookies=True)


def make_user(**kwargs: Any) -> User:
    """A user committed to the test's transaction, so each request sees it."""
    user = UserFactory(**kwargs)
    db.session.commit()
    return user


def reload(user: User) -> User:
    """The user as the database has it now (requests run in their own session)."""
    fresh = db.session.get(User, user.id, populate_existing=True)
    assert fresh is not None
    return fresh


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def signup_data(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    data = {
        "csrf_token": csrf_token(client, SIGNUP),
        "first_name": "Léa",
        "last_name": "Dubois",
        "email": unique_email(),
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        "accept_terms": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def login(
    client: FlaskClient, email_: str, password: str = DEFAULT_PASSWORD, query: str = ""
) -> TestResponse:
    path = LOGIN + query
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "email": email_, "password": password})


def field_error(html: str, field: str) -> str:
    """The error text rendered next to `field` by the _form.html macro."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field}"
    return match.group(1)


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session", domain="comptoir.test")
    return cookie.value if cookie else None


# Sign-up


def test_signup_creates_a_logged_in_resident(client: FlaskClient) -> None:
    data = signup_data(client, email="  Lea.Dubois@Example.ORG ")
    response = client.post(SIGNUP, data=data)
    assert response.status_code == 302
    user = find_user_by_email("lea.dubois@example.org")
    assert user is not None
    assert user.email == "lea.dubois@example.org"
    assert user.role_set == {Role.RESIDENT}
    assert user.password_hash.startswith("$argon2id$")
    assert user.last_login_at is not None
    assert client.get(ACCOUNT).status_code == 200


def test_signup_keeps_the_language_the_visitor_reads(client: FlaskClient) -> None:
    data = signup_data(client)
    response = client.post(SIGNUP, data=data, headers={"Accept-Language": "en"})
    assert response.status_code == 302
    user = find_user_by_email(str(data["email"]))
    assert user is not None and user.locale == "en"


def test_signup_taken_email(client: FlaskClient) -> None:
    existing = make_user()
    before = user_count()
    response = client.post(SIGNUP, data=signup_data(client, email=existing.email.upper()))
    assert response.status_code == 200
    assert "existe déjà" in field_error(response.text, "email")
    assert user_count() == before


def test_signup_taken_email_race(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    existing = make_user()
    monkeypatch.setattr(operations, "find_user_by_email", lambda _email: None)
    before = user_count()
    response = client.post(SIGNUP, data=signup_data(client, email=existing.email))
    assert response.status_code == 200
    assert "existe déjà" in field_error(response.text, "email")
    assert user_count() == before


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"password": "court", "confirm": "court"}, "password", "Au moins 10"),
        (
            {"password": "password123456", "confirm": "password123456"},
            "password",
            "trop courant",
        ),
        ({"password": "azertyuiop", "confirm": "azertyuiop"}, "password", "trop courant"),
        ({"email": "pas-une-adresse"}, "email", "adresse e-mail valide"),
        ({"email": "lea@"}, "email", "adresse e-mail valide"),
        ({"confirm": "autre chose encore"}, "confirm", "différents"),
        ({"first_name": None}, "first_name", "obligatoire"),
        ({"last_name": "   "}, "last_name", "obligatoire"),
        ({"accept_terms": None}, "accept_terms", "conditions"),
    ],
)
def test_signup_bad_input_is_shown_next_to_the_field(
    client: FlaskClient, overrides: dict[str, Any], field: str, expected: str
) -> None:
    before = user_count()
    response = client.post(SIGNUP, data=signup_data(client, **overrides))
    assert response.status_code == 200
    assert expected in field_error(response.text, field)
    assert re.search(f'aria-describedby="[^"]*{field}-error"', response.text)
    assert user_count() == before


def test_signup_password_containing_the_name_is_refused(client: FlaskClient) -> None:
    data = signup_data(
        client,
        first_name="Gwenaelle",
        last_name="Kerfontaine",
        password="gwenaellekerfontaine",
        confirm="gwenaellekerfontaine",
    )
    response = client.post(SIGNUP, data=data)
    assert response.status_code == 200
    assert "trop courant" in field_error(response.text, "password")


def test_signup_without_csrf_token_is_refused(client: FlaskClient) -> None:
    data = signup_data(client, csrf_token=None)
    before = user_count()
    response = client.post(SIGNUP, data=data)
    assert response.status_code == 400
    assert user_count() == before


def test_signup_page_is_accessible(client: FlaskClient) -> None:
    html = client.get(SIGNUP).text
    assert html.count("<h1") == 1
    for autocomplete in ("given-name", "family-name", "email", "new-password"):
        assert f'autocomplete="{autocomplete}"' in html
    assert 'type="password"' in html
    assert '<label for="email">' in html


# Log-in and log-out


def test_login_ok(client: FlaskClient) -> None:
    user = make_user()
    response = login(client, user.email.upper())
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert reload(user).last_login_at is not None
    assert client.get(ACCOUNT).status_code == 200


@pytest.mark.parametrize("case", ["wrong password", "unknown e-mail"])
def test_login_refused_with_one_message(client: FlaskClient, case: str) -> None:
    user = make_user()
    if case == "wrong password":
        response = login(client, user.email, "not the right password")
    else:
        response = login(client, unique_email())
    assert response.status_code == 200
    assert "E-mail ou mot de passe incorrect." in response.text
    assert client.get(ACCOUNT).status_code == 302


def test_login_inactive_user_refused(client: FlaskClient) -> None:
    user = make_user(is_active=False)
    response = login(client, user.email)
    assert response.status_code == 200
    assert "désactivé" in response.text
    assert client.get(ACCOUNT).status_code == 302


def test_login_renews_the_session(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user()
    seen: dict[str, Any] = {}
    real_login_user = views.login_user

    def spy(*args: Any, **kwargs: Any) -> bool:
        seen.update(session)  # what log-in hooks (the basket merge) get to see
        return real_login_user(*args, **kwargs)

    monkeypatch.setattr(views, "login_user", spy)
    token = csrf_token(client, LOGIN)
    with client.session_transaction() as sess:
        sess["basket"] = {"12": 1}
        sess["locale"] = "en"
        sess["tracking"] = "anonymous"
    before = session_cookie(client)
    response = client.post(
        LOGIN, data={"csrf_token": token, "email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert session_cookie(client) != before
    assert seen == {"basket": {"12": 1}, "locale": "en"}
    with client.session_transaction() as sess:
        assert sess["locale"] == "en"
        assert "tracking" not in sess
        assert "csrf_token" not in sess
    assert csrf_token(client, "/compte/mot-de-passe") != token


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/compte/", "/compte/"),
        ("/boutiques?page=2", "/boutiques?page=2"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_login_redirects_to_safe_next_only(
    client: FlaskClient, next_url: str, expected: str
) -> None:
    from urllib.parse import quote

    user = make_user()
    response = login(client, user.email, query="?next=" + quote(next_url, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_logout_requires_post_with_csrf(client: FlaskClient) -> None:
    user = make_user()
    login(client, user.email)
    assert client.get("/compte/deconnexion").status_code == 405
    assert client.post("/compte/deconnexion").status_code == 400
    assert client.get(ACCOUNT).status_code == 200
    token = csrf_token(client, ACCOUNT)
    response = client.post("/compte/deconnexion", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get(ACCOUNT).status_code == 302
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_set_language_saves_the_user_locale(client: FlaskClient) -> None:
    user = make_user()
    login(client, user.email)
    token = csrf_token(client, ACCOUNT)
    response = client.post(
        "/compte/langue",
        data={"csrf_token": token, "locale": "en"},
        headers={"Referer": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert reload(user).locale == "en"
    assert '<html lang="en">' in client.get(ACCOUNT).text


# Account page and password change


def test_account_page_shows_the_user(client: FlaskClient) -> None:
    user = make_user(first_name="Noé", last_name="Garnier", roles=[Role.COURIER])
    login(client, user.email)
    html = client.get(ACCOUNT).text
    assert "Noé Garnier" in html
    assert user.email in html
    assert "Livreur" in html
    assert "/compte/mot-de-passe" in html


def test_change_password_keeps_this_session_and_ends_others(
    app: Flask, client: FlaskClient
) -> None:
    user = make_user()
    other = new_client(app, client)
    login(client, user.email)
    login(other, user.email)
    path = "/compte/mot-de-passe"
    data = {
        "csrf_token": csrf_token(client, path),
        "current_password": "wrong current password",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    response = client.post(path, data=data)
    assert "incorrect" in field_error(response.text, "current_password")
    data["current_password"] = DEFAULT_PASSWORD
    assert client.post(path, data=data).status_code == 302
    assert client.get(ACCOUNT).status_code == 200
    assert other.get(ACCOUNT).status_code == 302


# Password reset


def reset_link(folder: Path) -> str:
    files = list(folder.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    assert text is not None
    match = re.search(r"http://comptoir\.test(/compte/reinitialiser/\S+)", text.get_content())
    assert match
    return match.group(1)


def ask_reset(client: FlaskClient, address: str) -> TestResponse:
    token = csrf_token(client, FORGOT)
    return client.post(FORGOT, data={"csrf_token": token, "email": address})


def choose_password(client: FlaskClient, path: str, password: str) -> TestResponse:
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "password": password, "confirm": password})


def test_reset_unknown_email_sends_nothing(client: FlaskClient, mail_folder: Path) -> None:
    known = make_user()
    unknown_answer = ask_reset(client, unique_email())
    known_answer = ask_reset(client, known.email)
    assert unknown_answer.status_code == known_answer.status_code == 200
    assert "Si un compte existe" in unknown_answer.text
    assert unknown_answer.text == known_answer.text
    assert len(list(mail_folder.glob("*.eml"))) == 1


def test_reset_link_works_once(app: Flask, client: FlaskClient, mail_folder: Path) -> None:
    user = make_user()
    other = new_client(app, client)
    login(other, user.email)
    assert other.get(ACCOUNT).status_code == 200

    ask_reset(client, user.email)
    path = reset_link(mail_folder)
    outbox = db.session.scalars(select(MailOutbox).where(MailOutbox.to == user.email))
    assert [row.sent_at is not None for row in outbox] == [True]

    weak = choose_password(client, path, "azertyuiop")
    assert weak.status_code == 200
    assert "trop courant" in field_error(weak.text, "password")

    response = choose_password(client, path, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == LOGIN

    again = client.get(path)
    assert again.status_code == 400
    assert "Demander un nouveau lien" in again.text
    assert other.get(ACCOUNT).status_code == 302  # the other session has ended

    assert "incorrect" in login(client, user.email, DEFAULT_PASSWORD).text
    assert login(client, user.email, NEW_PASSWORD).status_code == 302


def test_reset_link_expired(
    app: Flask, client: FlaskClient, mail_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    ask_reset(client, user.email)
    path = reset_link(mail_folder)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = client.get(path)
    assert response.status_code == 400
    assert "expiré" in response.text


def test_reset_link_expired_between_form_and_post(
    app: Flask, client: FlaskClient, mail_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    ask_reset(client, user.email)
    path = reset_link(mail_folder)
    token = csrf_token(client, path)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = client.post(
        path, data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert login(client, user.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize("tamper", ["flip", "other user", "garbage"])
def test_reset_link_tampered(
    app: Flask, client: FlaskClient, mail_folder: Path, tamper: str
) -> None:
    user = make_user()
    ask_reset(client, user.email)
    path = reset_link(mail_folder)
    prefix, token = path.rsplit("/", 1)
    if tamper == "flip":
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    elif tamper == "other user":
        victim = make_user()
        payload, _, rest = token.partition(".")
        forged = operations.make_reset_token(victim).partition(".")[0]
        token = forged + "." + rest
        assert payload != forged
    else:
        token = "not-a-token"
    response = client.get(f"{prefix}/{token}")
    assert response.status_code == 400
    assert "Demander un nouveau lien" in response.text


# Role gating


def test_account_requires_login(client: FlaskClient) -> None:
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN + "?next=")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/collectivite/", Role.STAFF), ("/livreur/", Role.COURIER)],
)
def test_pages_gated_by_role(app: Flask, client: FlaskClient, path: str, allowed: Role) -> None:
    assert client.get(path).status_code == 302  # anonymous: to the log-in page
    resident = make_user(roles=[Role.RESIDENT])
    login(client, resident.email)
    assert client.get(path).status_code == 403
    holder = make_user(roles=[allowed])
    other = new_client(app, client)
    login(other, holder.email)
    assert other.get(path).status_code == 200


def test_logout_then_login_with_the_default_client(app: Flask) -> None:
    client = app.test_client()  # the conftest client: `g` lives across requests
    first, second = make_user(), make_user()
    assert login(client, first.email).status_code == 302
    token = csrf_token(client, ACCOUNT)
    assert client.post("/compte/deconnexion", data={"csrf_token": token}).status_code == 302
    assert login(client, second.email).status_code == 302
