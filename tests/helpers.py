"""Helpers shared by tests: reading forms as a browser does."""

from __future__ import annotations

import re
import uuid

from flask.testing import FlaskClient


def csrf_token(client: FlaskClient, path: str) -> str:
    """GET a page and read the CSRF token from its form, as a browser would."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.org"
