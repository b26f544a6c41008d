"""The OpenAPI document is valid, lists every API endpoint, and its docs page works
without anything from another site."""

from __future__ import annotations

import re

from flask import Flask

from marketplace.api_auth import SCHEME_NAME

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
PUBLIC = {"/api/v1/shops", "/api/v1/search"}
# Signed by the carrier with its own secret, not a user's token.
CARRIER_SIGNED = "/api/v1/carriers/"


def _spec(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def _api_rules(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route the API blueprints serve."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) & HTTP_METHODS:
            found.add((path, method.lower()))
    return found


def test_document_is_valid_openapi(client) -> None:
    import openapi_spec_validator as validator

    spec = _spec(client)
    validator.validate(spec)
    assert spec["openapi"].startswith("3.")


def test_document_lists_every_endpoint(app, client) -> None:
    spec = _spec(client)
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }
    rules = _api_rules(app)
    assert rules, "no API route registered"
    assert documented == rules
    for path, method in documented:
        operation = spec["paths"][path][method]
        assert operation.get("summary"), f"{method} {path} has no summary"
        codes = {c for c in operation["responses"] if c.startswith("2")}
        assert len(codes) == 1, f"{method} {path}: one success code, got {codes}"


def test_token_endpoints_are_documented_as_such(client) -> None:
    spec = _spec(client)
    scheme = spec["components"]["securitySchemes"][SCHEME_NAME]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for path, item in spec["paths"].items():
        public = path in PUBLIC or path.startswith("/api/v1/shops/")
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            if public:
                assert "security" not in operation, f"{method} {path} should be public"
            elif path.startswith(CARRIER_SIGNED):
                assert operation["security"] == [{"carrierSignature": []}], f"{method} {path}"
                assert "401" in operation["responses"], f"{method} {path}"
            else:
                assert operation["security"] == [{SCHEME_NAME: []}], f"{method} {path}"
                assert "401" in operation["responses"], f"{method} {path}"


def test_docs_page_renders_offline(client) -> None:
    spec = _spec(client)
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert 'href="/api/openapi.json"' in page.text
    for path in spec["paths"]:
        assert path in page.text, path
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text, name
    # Nothing to fetch from elsewhere: no script, no stylesheet or image from a URL.
    assert "<script" not in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
