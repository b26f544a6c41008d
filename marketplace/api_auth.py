"""The JSON API's authentication (per-user bearer tokens) and its offline docs page.

A program calls the API with `Authorization: Bearer <token>`. Tokens are made by
`flask comptoir api-token create EMAIL NAME`, shown once; only their SHA-256 is
stored. The API never reads the session cookie: a request is the token's user or
anonymous, so it needs no CSRF token and a browser's session cannot be replayed
against it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar

import click
from flask import Flask, abort, current_app, g, render_template_string, request, url_for
from flask.cli import AppGroup
from flask_smorest import Blueprint
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, Unauthorized

from .errors import json_error
from .extensions import api, db
from .models import ApiToken, Role, User, utcnow

TOKEN_PREFIX = "cpt_"  # noqa: S105 - a marker, not a secret
SCHEME_NAME = "bearerAuth"
# The OpenAPI security requirement of the endpoints that need a token.
SECURITY: list[dict[str, list[str]]] = [{SCHEME_NAME: []}]
# last_used_at is written at most this often per token (a write per call is waste).
LAST_USED_RESOLUTION = timedelta(minutes=1)

F = TypeVar("F", bound=Callable[..., Any])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the clear token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name.strip()[:100], token_hash=hash_token(token))
    db.session.add(row)
    db.session.flush()
    return row, token


def revoke_token(row: ApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db.session.flush()


def user_for_token(token: str) -> User | None:
    """The active user owning this unrevoked token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        db.session.commit()  # before the view's own work: its rollback keeps this
    return user


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> Any:
    response, _code = json_error(Unauthorized(message))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="comptoir"'
    abort(response)


def api_user() -> User:
    """The user the current API request authenticated as (inside token_required)."""
    user: User = g.api_user
    return user


def token_required(*roles: Role) -> Callable[[F], F]:
    """The view needs a valid bearer token (and one of `roles` if given).

    401 without a valid token, whatever cookies come with the request; 403 for a
    user without the role.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = _bearer_token()
            if token is None:
                _unauthorized("Jeton d'API manquant : en-tête « Authorization: Bearer <jeton> ».")
            user = user_for_token(token or "")
            if user is None:
                _unauthorized("Jeton d'API invalide ou révoqué.")
            assert user is not None
            if roles and not user.has_role(*roles):
                raise Forbidden("Ce compte n'a pas accès à cette opération.")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def token_endpoint(
    bp: Blueprint,
    *roles: Role,
    check: Callable[[dict[str, Any]], None] | None = None,
    errors: tuple[int, ...] = (),
) -> Callable[[F], F]:
    """An API endpoint of `bp` that needs a bearer token (and one of `roles`),
    documented in the spec with its security requirement, 401 and 403.

    The token is checked before the input is read (put it above `@bp.arguments`).
    `check(view_kwargs)` then runs (e.g. the account's shop, an approved courier)
    and may refuse with 403 or one of the `errors` it documents (e.g. 404).
    """

    def decorator(view: F) -> F:
        inner: Callable[..., Any] = view
        if check is not None:

            @wraps(view)
            def checked(*args: Any, **kwargs: Any) -> Any:
                check(kwargs)
                return view(*args, **kwargs)

            inner = checked
        wrapped: Any = token_required(*roles)(inner)
        wrapped = bp.doc(security=SECURITY)(wrapped)
        for status in sorted(errors, reverse=True):
            wrapped = bp.alt_response(status, HTTPStatus(status).name)(wrapped)
        if roles or check is not None:
            wrapped = bp.alt_response(403, "FORBIDDEN")(wrapped)
        result: F = bp.alt_response(401, "UNAUTHORIZED")(wrapped)
        return result

    return decorator


# -- CLI ---------------------------------------------------------------------------

api_token_cli = AppGroup("api-token", help="Per-user tokens of the JSON API.")


@api_token_cli.command("create")
@click.argument("email")
@click.argument("name")
def create_command(email: str, name: str) -> None:
    """Create a token for the account EMAIL, labelled NAME; prints it once."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account with the e-mail {email}")
    row, token = create_token(user, name)
    db.session.commit()
    click.echo(f"token {row.id} for {user.email} ({row.name}); it is shown only this once:")
    click.echo(token)


@api_token_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke the token TOKEN_ID: calls made with it get 401 from now on."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise click.ClickException(f"no token {token_id}")
    revoke_token(row)
    db.session.commit()
    click.echo(f"token {row.id} revoked")


@api_token_cli.command("list")
@click.argument("email")
def list_command(email: str) -> None:
    """List the tokens of the account EMAIL (never the tokens themselves)."""
    rows = db.session.scalars(
        select(ApiToken)
        .join(User, ApiToken.user_id == User.id)
        .where(User.email == email.strip().lower())
        .order_by(ApiToken.id)
    )
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        used = row.last_used_at.isoformat() if row.last_used_at else "never"
        click.echo(f"{row.id}\t{row.name}\t{state}\tlast used: {used}")


def register_commands(group: AppGroup) -> None:
    group.add_command(api_token_cli)


# -- OpenAPI: the bearer scheme and a docs page that needs nothing from outside ----


def init_app(app: Flask) -> None:
    """Document the bearer scheme, serve the docs page, add the token CLI.

    Safe to call twice (the API blueprint calls it when registered).
    """
    from .commands import comptoir_cli

    if app.extensions.get("api_auth"):
        return
    app.extensions["api_auth"] = True
    register_commands(comptoir_cli)
    api.spec.components.security_scheme(
        SCHEME_NAME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "Per-user API token: `flask comptoir api-token create EMAIL NAME`.",
        },
    )
    prefix = "/" + (app.config.get("OPENAPI_URL_PREFIX") or "/api").strip("/")
    docs_path = app.config.get("OPENAPI_DOCS_PATH")
    if docs_path:
        # Named in flask-smorest's docs namespace: it documents the API, it is not a page.
        app.add_url_rule(prefix + "/" + docs_path.strip("/"), DOCS_ENDPOINT, docs_page)


DOCS_ENDPOINT = "api-docs.reference"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    ref = (schema or {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def _type_of(schema: dict[str, Any] | None) -> str:
    """A short readable type: `integer`, `string (uuid)`, `[ShopSummary]`…"""
    schema = schema or {}
    if _ref_name(schema):
        return str(_ref_name(schema))
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array" or "array" in str(kind):
        return f"[{_type_of(schema.get('items'))}]"
    if schema.get("enum"):
        return f"{kind}: " + " | ".join(str(v) for v in schema["enum"] if v is not None)
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    if isinstance(schema.get("additionalProperties"), dict):
        return f"{{key: {_type_of(schema['additionalProperties'])}}}"
    return str(kind)


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("pattern", "matches"),
        ("default", "default"),
    ):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    return ", ".join(parts)


def _response(spec: dict[str, Any], code: str, response: dict[str, Any]) -> dict[str, str]:
    if name := _ref_name(response):
        response = spec.get("components", {}).get("responses", {}).get(name, {})
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return {
        "code": code,
        "description": response.get("description", ""),
        "type": _type_of(schema) if schema else "",
    }


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    operations = []
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            operations.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "tag": (op.get("tags") or ["api"])[0],
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "secured": bool(op.get("security", spec.get("security"))),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _type_of(p.get("schema")),
                            "constraints": _constraints(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in [*shared, *op.get("parameters", [])]
                    ],
                    "body": _type_of(body.get("schema")) if body else None,
                    "responses": [
                        _response(spec, code, response)
                        for code, response in sorted(op.get("responses", {}).items())
                    ],
                }
            )
    return operations


def _schemas(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        out.append(
            {
                "name": name,
                "fields": [
                    {
                        "name": field,
                        "type": _type_of(sub),
                        "required": field in required,
                        "read_only": sub.get("readOnly", False),
                        "constraints": _constraints(sub),
                        "description": sub.get("description", ""),
                    }
                    for field, sub in schema.get("properties", {}).items()
                ],
            }
        )
    return out


def docs_page() -> str:
    """The API reference, rendered on the server from the OpenAPI document.

    No script and nothing loaded from another site: it works offline, behind a
    proxy without internet access and in any browser.
    """
    spec = api.spec.to_dict()
    operations = _operations(spec)
    tags = []
    for op in operations:
        if op["tag"] not in tags:
            tags.append(op["tag"])
    descriptions = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    return render_template_string(
        DOCS_TEMPLATE,
        info=spec.get("info", {}),
        openapi_version=spec.get("openapi"),
        spec_url=url_for("api-docs.openapi_json"),
        swagger_ui=current_app.config.get("OPENAPI_SWAGGER_UI_PATH")
        and current_app.config.get("OPENAPI_SWAGGER_UI_URL"),
        tags=[(t, descriptions.get(t, ""), [o for o in operations if o["tag"] == t]) for t in tags],
        schemas=_schemas(spec),
    )


DOCS_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} API {{ info.version }}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 70rem;
         padding: 1rem 1.5rem 4rem; color: #1b1b1b; }
  code, .path { font-family: ui-monospace, monospace; }
  nav ul { columns: 2; }
  section.op { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
  .method { display: inline-block; min-width: 4.5rem; font-weight: bold; }
  .GET { color: #0b6e2e; } .POST { color: #0b4f9e; } .PUT { color: #8a5a00; }
  .DELETE { color: #a3161a; }
  .lock { font-size: .85em; color: #6b3fa0; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  th, td { text-align: left; border-bottom: 1px solid #e3e3e3; padding: .25rem .5rem;
           vertical-align: top; }
  th { font-weight: 600; background: #f6f6f6; }
</style>
</head>
<body>
<main id="main">
<h1>{{ info.title }} API <small>v{{ info.version }}</small></h1>
<p>OpenAPI {{ openapi_version }} document: <a href="{{ spec_url }}">{{ spec_url }}</a>.
{% if swagger_ui %}Interactive version:
<a href="{{ url_for('api-docs.openapi_swagger_ui') }}">Swagger UI</a>.{% endif %}</p>
<h2 id="conventions">Conventions</h2>
<ul>
  <li>Money is in integer euro cents, prices TTC; VAT rates in basis points
      (<code>2000</code> = 20&nbsp;%).</li>
  <li>Times are ISO&nbsp;8601 in UTC.</li>
  <li>Lists are paginated with <code>page</code> and <code>page_size</code>; the
      <code>X-Pagination</code> header gives the total and the pages.</li>
  <li>Errors always have the shape
      <code>{"code", "status", "message", "errors"}</code>; invalid input is
      <code>422</code> with <code>errors</code> naming each field.</li>
  <li>Endpoints marked <span class="lock">[token]</span> need
      <code>Authorization: Bearer &lt;token&gt;</code>, a per-user token made with
      <code>flask comptoir api-token create EMAIL NAME</code>. Session cookies are
      ignored by the API.</li>
</ul>
<nav><h2>Endpoints</h2><ul>
{% for tag, _d, ops in tags %}{% for op in ops %}
  <li><a href="#{{ op.id }}"><span class="method {{ op.method }}">{{ op.method }}</span>
      <span class="path">{{ op.path }}</span></a></li>
{% endfor %}{% endfor %}
</ul></nav>
{% for tag, description, ops in tags %}
<h2>{{ tag }}</h2>
{% if description %}<p>{{ description }}</p>{% endif %}
{% for op in ops %}
<section class="op" id="{{ op.id }}">
  <h3><span class="method {{ op.method }}">{{ op.method }}</span>
      <span class="path">{{ op.path }}</span>
      {% if op.secured %}<span class="lock">[token]</span>{% endif %}</h3>
  {% if op.summary %}<p><strong>{{ op.summary }}</strong></p>{% endif %}
  {% if op.description %}<p>{{ op.description }}</p>{% endif %}
  {% if op.parameters %}
  <table><caption>Parameters</caption>
    <tr><th>name</th><th>in</th><th>type</th><th>required</th><th>constraints</th></tr>
    {% for p in op.parameters %}
    <tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td><td>{{ p.type }}</td>
        <td>{{ "yes" if p.required else "" }}</td>
        <td>{{ p.constraints }} {{ p.description }}</td></tr>
    {% endfor %}
  </table>
  {% endif %}
  {% if op.body %}<p>Request body (JSON):
    <a href="#schema-{{ op.body }}">{{ op.body }}</a></p>{% endif %}
  <table><caption>Responses</caption>
    <tr><th>status</th><th>description</th><th>body</th></tr>
    {% for r in op.responses %}
    <tr><td>{{ r.code }}</td><td>{{ r.description }}</td>
        <td>{% if r.type %}<a href="#schema-{{ r.type.strip('[]') }}">{{ r.type }}</a>
            {% endif %}</td></tr>
    {% endfor %}
  </table>
</section>
{% endfor %}
{% endfor %}
<h2 id="schemas">Schemas</h2>
{% for schema in schemas %}
<section class="op" id="schema-{{ schema.name }}">
  <h3>{{ schema.name }}</h3>
  <table>
    <tr><th>field</th><th>type</th><th>required</th><th>notes</th></tr>
    {% for f in schema.fields %}
    <tr><td><code>{{ f.name }}</code></td><td>{{ f.type }}</td>
        <td>{{ "yes" if f.required else "" }}</td>
        <td>{{ "read-only. " if f.read_only else "" }}{{ f.constraints }}
            {{ f.description }}</td></tr>
    {% endfor %}
  </table>
</section>
{% endfor %}
</main>
</body>
</html>
"""
