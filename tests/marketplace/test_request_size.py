"""Request bodies over the limit: a 413 that says the limit, as a page for people and in
the one JSON error shape for the API, with nothing written."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import User
from tests.helpers import csrf_token, main_text, unique_email

SIGNUP = "/compte/inscription"


def signup_form(client: FlaskClient, **changes: object) -> dict[str, object]:
    return {
        "csrf_token": csrf_token(client, SIGNUP),
        "email": unique_email(),
        "password": "violet marmande tomate pluie",
        "first_name": "Camille",
        "last_name": "Martin",
        **changes,
    }


def users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


def test_a_form_over_the_default_limit_gets_a_page_naming_it(client: FlaskClient) -> None:
    before = users()
    response = client.post(SIGNUP, data=signup_form(client, last_name="x" * (16 * 1024 * 1024)))
    assert response.status_code == 413
    assert "Envoi trop volumineux : 16 Mo au plus." in main_text(response.text)
    assert users() == before


def test_the_page_speaks_english_to_english_readers(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    response = client.post(
        SIGNUP,
        data=signup_form(client, last_name="x" * 70_000),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 413
    assert "Request too large: 64 kB at most." in main_text(response.text)


def test_one_field_over_flasks_field_limit_is_named_as_such(
    app: Flask, client: FlaskClient
) -> None:
    # The whole body is under MAX_CONTENT_LENGTH; one text field is over
    # MAX_FORM_MEMORY_SIZE (500 kB by default).
    data = signup_form(client, last_name="x" * 600_000, photo=(io.BytesIO(b"x"), "x.txt"))
    before = users()
    response = client.post(SIGNUP, data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Un champ du formulaire est trop long." in main_text(response.text)
    assert users() == before
