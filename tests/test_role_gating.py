"""Every page is gated unless it is listed as public here.

The test walks `app.url_map`: an endpoint added later without a login or role check
fails it until it is gated, or deliberately added to PUBLIC below.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from werkzeug.routing import Rule

from marketplace.extensions import db
from marketplace.models import Role
from shop import operations as ops
from tests.factories import DEFAULT_PASSWORD, UserFactory, VariantFactory
from tests.helpers import csrf_token, login

LOGIN_PATH = "/compte/connexion"

# Endpoints anyone may use, each for a reason.
PUBLIC = {
    "storefront.home",  # the shops of the territory
    "storefront.shop_page",  # a shop and its catalogue
    "storefront.product_page",  # a product of a shop
    "storefront.search",  # search across products and shops
    "media_file",  # product photos: re-encoded copies under random names
    "shop_api.Shops",  # the public read-only API: shops, products, search
    "shop_api.ShopDetail",
    "shop_api.Products",
    "shop_api.ProductDetail",
    "shop_api.Search",
    "storefront.basket",  # GET /panier: the anonymous basket lives in the session
    "storefront.update_basket",  # POST /panier: anonymous visitors fill a basket too
    "auth.login",
    "auth.signup",
    "auth.forgot_password",
    "auth.reset_password",  # authenticated by the signed token in its URL
    "auth.logout",  # harmless when already logged out (CSRF still required)
    "auth.set_language",  # the language is chosen before logging in
    "webhooks.stripe_webhook",  # authenticated by Stripe's signature
    "merchants.signup",  # free shop sign-up: a visitor creates the account with it
    "merchants.staff_invitation",  # GET only, by the signed token; joining needs a log-in
    "ambassadors.landing",  # "Devenir Cityzen": the rules; opting in needs a log-in
    "ambassadors.recommend",  # linked from cached product pages: sends to log in itself
    "ambassadors.shared_link",  # /r/<code>: the shared link visitors follow
}
# Not application pages.
SKIPPED_PREFIXES = ("api-docs.",)

# Role-gated pages: who gets in (everyone else signed in gets 403).
ROLE_PAGES = {
    "/boutique/": {Role.MERCHANT},
    "/boutique/commandes/": {Role.MERCHANT},
    "/livreur/": {Role.COURIER},
    "/collectivite/": {Role.STAFF},
    "/collectivite/recommandations": {Role.STAFF},
    "/commande": {Role.RESIDENT},
}

DUMMY = {"UUIDConverter": uuid.uuid4, "IntegerConverter": lambda: 1}


def _skipped(rule: Rule) -> bool:
    return (
        rule.endpoint == "static"
        or rule.endpoint.endswith(".static")
        or (rule.endpoint.startswith(SKIPPED_PREFIXES))
    )


def _rules(app: Flask) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if not _skipped(r)),
        key=lambda r: (r.rule, r.endpoint),
    )


def _url(app: Flask, rule: Rule) -> str:
    values = {
        name: DUMMY.get(type(conv).__name__, lambda: "x")()
        for name, conv in rule._converters.items()
    }
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def _refused(response) -> bool:  # type: ignore[no-untyped-def]
    """Sent to the log-in page, or told it is not allowed."""
    if response.status_code in (401, 403):
        return True
    if response.status_code in (302, 303):
        return urlsplit(response.headers["Location"]).path == LOGIN_PATH
    return False


def test_public_list_names_real_endpoints(app):
    """A renamed public endpoint must not leave a stale exemption behind."""
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert not PUBLIC - endpoints, PUBLIC - endpoints
    assert not {e for e in PUBLIC if e.startswith(SKIPPED_PREFIXES)}


def test_every_non_public_page_refuses_anonymous_get(app, client):
    checked, wrong = [], []
    for rule in _rules(app):
        if rule.endpoint in PUBLIC or "GET" not in rule.methods:
            continue
        url = _url(app, rule)
        response = client.get(url)
        checked.append(url)
        if not _refused(response):
            wrong.append((rule.endpoint, url, response.status_code))
    assert not wrong, f"reachable without logging in: {wrong}"
    assert {"/boutique/", "/commande", "/compte/", "/livreur/", "/collectivite/"} <= set(checked)


def test_every_non_public_post_refuses_anonymous_even_with_csrf(app, client):
    """Gating, not only CSRF, stops an anonymous POST."""
    token = csrf_token(client, LOGIN_PATH)
    wrong = []
    for rule in _rules(app):
        if rule.endpoint in PUBLIC or "POST" not in rule.methods:
            continue
        url = _url(app, rule)
        response = client.post(url, data={"csrf_token": token}, headers={"X-CSRFToken": token})
        if not _refused(response):
            wrong.append((rule.endpoint, url, response.status_code))
    assert not wrong, f"POST accepted without logging in: {wrong}"


def test_anonymous_post_without_csrf_is_never_accepted(app, client):
    wrong = []
    for rule in _rules(app):
        if "POST" not in rule.methods:
            continue
        url = _url(app, rule)
        response = client.post(url, data={"x": "1"})
        if response.status_code != 400 and not _refused(response):
            wrong.append((rule.endpoint, url, response.status_code))
    assert not wrong, f"POST without CSRF token neither refused nor rejected: {wrong}"


@pytest.mark.parametrize(
    "path", ["/", "/panier", LOGIN_PATH, "/compte/inscription", "/compte/mot-de-passe-oublie"]
)
def test_public_pages_open_to_anonymous(app, client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_pages_open_only_to_their_roles(app, client, role):
    user = UserFactory(roles=[role])
    if role is Role.RESIDENT:  # the checkout page needs something to check out
        variant = VariantFactory(stock=5)
        ops.set_quantity(ops.user_basket(user), variant.id, 1)
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)

    got = {path: client.get(path).status_code for path in ROLE_PAGES}

    expected = {path: 200 if role in allowed else 403 for path, allowed in ROLE_PAGES.items()}
    assert got == expected
    assert client.get("/compte/").status_code == 200  # any signed-in account
