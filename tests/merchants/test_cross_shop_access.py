"""Every merchant page and endpoint, requested as another shop's staff, as a resident
and anonymously: nothing of shop B is shown and nothing of it changes.

The routes are read from `app.url_map` (every rule under /boutique/ and
/api/v1/merchant/), so a new page is covered the day it is added; its URL arguments
are filled with shop B's ids. A new kind of argument fails the test until it is
mapped below. GETs and POSTs (with a valid CSRF token and plausible form fields and
files) must answer 401/403/404, or the log-in page for the anonymous, and leave every
row of the database as it was.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.routing import Rule

from marketplace.api_auth import create_token
from marketplace.extensions import db
from marketplace.models import Role, utcnow
from merchants.models import Closure, ImportJob, ProductImage, StaffRole
from merchants.models.imports import ImportFormat
from merchants.models.onboarding import StaffInvitation
from shop.models import SubOrderStatus
from tests.conftest import IsolatedClient
from tests.factories import (
    DEFAULT_PASSWORD,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import csrf_token, login
from tests.merchants.sales_data import make_sale

PREFIXES = ("/boutique/", "/api/v1/merchant/")
LOGIN_PATH = "/compte/connexion"

# Pages of the merchant area that belong to no shop in particular: they answer, but
# must show nothing of shop B whoever asks.
SHOPLESS = {
    "merchants.home",
    "merchants.signup",
    "shop_orders.queue",
    "shop_orders.queue_fragment",
    "shop_orders.pickup",
    "merchant_api.MyShops",  # the account's own shops: checked for leaks below
}
# Public storefront pages that happen to share the prefix (/boutiques/...).
NOT_MERCHANT = {"storefront.shop_page", "storefront.product_page"}

SECRET_PRODUCT = "Nougat Clandestin"
SECRET_SKU = "SKU-SECRET-B-42"
SECRET_CUSTOMER = "Zéphyrine Confidentielle"
SECRET_PHOTO_ALT = "Photo cachée du nougat"

# Values for the string arguments of the rules.
STRINGS = {
    "fmt": ["csv", "xlsx"],
    "token": ["jeton-inconnu"],
    "sku": [SECRET_SKU],
}


@pytest.fixture
def shops(app):
    shop_a = ShopFactory(name="Boutique Alpha")
    shop_b = ShopFactory(name="Boutique Bêta")
    owner_a = UserFactory(roles=[Role.MERCHANT])
    owner_b = UserFactory(roles=[Role.MERCHANT])
    clerk_b = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop_a, owner_a)
    add_staff(shop_b, owner_b)
    add_staff(shop_b, clerk_b, StaffRole.STAFF)
    resident = UserFactory(roles=[Role.RESIDENT])
    VariantFactory(product__shop=shop_a, product__name="Produit Alpha", sku="SKU-A-1")
    variant = VariantFactory(
        product__shop=shop_b, product__name=SECRET_PRODUCT, sku=SECRET_SKU, price_cents=800
    )
    image = ProductImage(
        product_id=variant.product.id,
        alt=SECRET_PHOTO_ALT,
        key="0" * 32,
        width=800,
        height=600,
    )
    closure = Closure(
        shop_id=shop_b.id,
        starts_on=date(2026, 12, 24),
        ends_on=date(2026, 12, 26),
        reason="Inventaire secret",
    )
    job = ImportJob(
        shop_id=shop_b.id,
        user_id=owner_b.id,
        filename="catalogue-b.csv",
        format=ImportFormat.CSV,
        total_rows=1,
        errors=[],
        summary={"created": 1},
    )
    invitation = StaffInvitation(
        shop_id=shop_b.id,
        email="invite-b@example.org",
        nonce="n" * 32,
        expires_at=datetime.now(UTC) + timedelta(days=3),
        invited_by_id=owner_b.id,
    )
    db.session.add_all([image, closure, job, invitation])
    db.session.flush()
    subs = {
        status: make_sale(
            shop_b,
            resident,
            [(variant, 1)],
            datetime.now(UTC) - timedelta(hours=1),
            status=status,
            contact_name=SECRET_CUSTOMER,
        )
        for status in (SubOrderStatus.PAID, SubOrderStatus.READY)
    }
    db.session.commit()
    sub = subs[SubOrderStatus.PAID]
    ids: dict[str, list[int]] = {
        "shop_id": [shop_b.id],
        "product_id": [variant.product.id],
        "variant_id": [variant.id],
        "image_id": [image.id],
        "closure_id": [closure.id],
        "job_id": [job.id],
        "user_id": [owner_b.id, clerk_b.id],
        "sub_id": [s.id for s in subs.values()],
        "sub_order_id": [s.id for s in subs.values()],
        "order_line_id": [line.id for s in subs.values() for line in s.lines],
        "line_id": [line.id for s in subs.values() for line in s.lines],
        "invitation_id": [invitation.id],
    }
    secrets = [
        SECRET_PRODUCT,
        SECRET_SKU,
        SECRET_CUSTOMER,
        SECRET_PHOTO_ALT,
        "Inventaire secret",
        "catalogue-b.csv",
        "invite-b@example.org",
        owner_b.email,
        clerk_b.email,
        *(s.reference for s in subs.values()),
    ]
    return {
        "a": shop_a,
        "b": shop_b,
        "owner_a": owner_a,
        "resident": resident,
        "ids": ids,
        "secrets": secrets,
        "sub": sub,
        "ready_sub": subs[SubOrderStatus.READY],
    }


def merchant_rules(app: Any) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIXES) and rule.endpoint not in NOT_MERCHANT
    ]
    assert len(rules) > 20  # the back office is there
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def urls_for(rule: Rule, ids: dict[str, list[int]]) -> Iterator[str]:
    """The rule's URLs with shop B's ids (every combination of the values)."""
    choices: list[tuple[str, list[Any]]] = []
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if kind == "IntegerConverter":
            if name not in ids:
                pytest.fail(f"{rule.rule}: map the int argument {name!r} to shop B's ids")
            choices.append((name, ids[name]))
        elif name == "action":
            from shop.views.staff import ACTIONS

            choices.append((name, sorted(ACTIONS)))
        elif name in STRINGS:
            choices.append((name, STRINGS[name]))
        else:
            pytest.fail(f"{rule.rule}: give the argument {name!r} a value")
    combos: list[dict[str, Any]] = [{}]
    for name, values in choices:
        combos = [{**c, name: v} for c in combos for v in values]
    adapter = _adapter()
    for values in combos:
        yield adapter.build(rule.endpoint, values)


def _adapter() -> Any:
    from flask import current_app

    return current_app.url_map.bind("localhost")


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (flushed state), ordered, for before/after."""
    db.session.flush()
    rows = {}
    for table in db.metadata.sorted_tables:
        key = list(table.primary_key.columns) or list(table.columns)
        result = db.session.execute(sa.select(table).order_by(*key))
        rows[table.name] = [tuple(map(repr, row)) for row in result]
    return rows


def form_data(token: str, shops: dict[str, Any]) -> dict[str, Any]:
    """Plausible fields for every kind of form of the back office."""
    sub = shops["ready_sub"]
    return {
        "csrf_token": token,
        "name": "Renommé par un autre",
        "description": "x",
        "status": "archived",
        "vat_rate": "2000",
        "variants-0-sku": "PIRATE-1",
        "variants-0-price": "0,01",
        "variants-0-stock": "0",
        "price": "0,01",
        "stock": "0",
        "alt": "Remplacé",
        "direction": "up",
        "reason": "rupture",
        "code": sub.pickup_code,
        "amount": "1,00",
        "line_id": str(shops["ids"]["line_id"][0]),
        "quantity": "1",
        "email": "intrus@example.org",
        "role": "staff",
        "iban": "FR7630006000011234567890189",
        "holder": "Intrus",
        "starts_on": "2027-01-01",
        "ends_on": "2027-01-02",
        "street": "2 rue Volée",
        "postcode": "47200",
        "story": "Piraté",
        "file": (io.BytesIO(b"sku,name,price\nX-1,Intrus,1.00\n"), "intrus.csv"),
        "photo": (io.BytesIO(b"not an image"), "intrus.png"),
    }


def api_body(shops: dict[str, Any]) -> dict[str, Any]:
    """A JSON body with the fields of the API's writes."""
    return {
        "name": "Renommé par un autre",
        "status": "archived",
        "price_cents": 1,
        "stock": 0,
        "sku": SECRET_SKU,
        "items": [{"sku": SECRET_SKU, "stock": 0}],
        "variants": [{"sku": "PIRATE-1", "price_cents": 1, "stock": 0}],
        "reason": "rupture",
        "code": shops["ready_sub"].pickup_code,
    }


def assert_nothing_leaked(body: str, url: str, secrets: list[str]) -> None:
    for secret in secrets:
        if secret in url:
            continue  # the visitor's own input echoed back (a search field) tells nothing
        assert secret not in body, f"{url} shows {secret!r} of shop B"


class Visitor:
    """One kind of visitor: a browser signed in through the form for the pages, and
    a separate, cookieless client with an API token of the same account for the API
    (the API keeps no session)."""

    def __init__(self, app: Any, who: str, user: Any | None) -> None:
        self.who = who
        app.test_client_class = IsolatedClient  # each request in its own context
        self.pages = app.test_client()
        self.api = app.test_client()
        self.headers: dict[str, str] = {}
        if user is not None:
            login(self.pages, user.email, DEFAULT_PASSWORD)
            row, token = create_token(user, "test")
            row.last_used_at = utcnow()  # not touched again during the test
            self.headers = {"Authorization": f"Bearer {token}"}
        self.csrf = csrf_token(self.pages, "/")

    def get(self, url: str) -> Any:
        if url.startswith("/api/"):
            return self.api.get(url, headers=self.headers)
        return self.pages.get(url)

    def send(self, method: str, url: str, shops: dict[str, Any]) -> Any:
        if url.startswith("/api/"):
            return self.api.open(url, method=method, json=api_body(shops), headers=self.headers)
        return self.pages.open(
            url,
            method=method,
            data=form_data(self.csrf, shops),
            headers={"X-CSRFToken": self.csrf},
        )


def visitors(app: Any, shops: dict[str, Any]) -> list[Visitor]:
    found = [
        Visitor(app, "anonymous", None),
        Visitor(app, "staff of shop A", shops["owner_a"]),
        Visitor(app, "resident", shops["resident"]),
    ]
    db.session.commit()
    return found


def refused(who: str, url: str, response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    if url.startswith("/api/") and response.status_code in (400, 422):
        # The API validates its body before the view runs (so before the shop is
        # looked up): refused all the same, and the snapshot proves nothing changed.
        return True
    if who == "anonymous" and response.status_code in (302, 303):
        return LOGIN_PATH in response.location
    return False


def test_every_merchant_route_refuses_others_and_leaks_nothing(app, shops):
    secrets = shops["secrets"]
    rules = merchant_rules(app)
    clients = visitors(app, shops)
    before = snapshot()
    checked = 0
    for visitor in clients:
        who = visitor.who
        for rule in rules:
            if rule.endpoint in SHOPLESS:
                continue
            for url in urls_for(rule, shops["ids"]):
                if "GET" in rule.methods:
                    response = visitor.get(url)
                    assert refused(who, url, response), (who, "GET", url, response.status_code)
                    assert_nothing_leaked(response.get_data(as_text=True), url, secrets)
                    checked += 1
                for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
                    response = visitor.send(method, url, shops)
                    assert refused(who, url, response), (
                        who,
                        method,
                        url,
                        response.status_code,
                        re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))[-300:],
                    )
                    assert_nothing_leaked(response.get_data(as_text=True), url, secrets)
                    checked += 1
    assert checked > 100
    assert snapshot() == before


def test_shopless_merchant_pages_show_nothing_of_shop_b(app, shops):
    secrets = shops["secrets"]
    sub = shops["sub"]
    extra = [
        f"/boutique/commandes/retrait?ref={sub.reference}",
        f"/boutique/commandes/retrait?ref={sub.reference}&code={sub.pickup_code}",
    ]
    clients = visitors(app, shops)
    before = snapshot()
    for visitor in clients:
        who = visitor.who
        urls = [
            url
            for rule in merchant_rules(app)
            if rule.endpoint in SHOPLESS and "GET" in rule.methods
            for url in urls_for(rule, shops["ids"])
        ]
        for url in urls + extra:
            response = visitor.get(url)
            assert response.status_code in (200, 302, 303, 401, 403, 404), (who, url)
            assert_nothing_leaked(response.get_data(as_text=True), url, secrets)
        # The signed-in staff of shop A does see its own shop's product on its pages.
        if who == "staff of shop A":
            page = visitor.get(f"/boutique/{shops['a'].id}/catalogue").text
            assert "Produit Alpha" in page
    assert snapshot() == before


def test_shop_b_own_staff_sees_it(app, shops):
    """The control: the same URLs do show shop B's data to shop B's staff."""
    owner_b = db.session.scalar(
        sa.select(UserFactory._meta.model).where(
            UserFactory._meta.model.email == shops["secrets"][7]
        )
    )
    app.test_client_class = IsolatedClient
    client = app.test_client()
    login(client, owner_b.email, DEFAULT_PASSWORD)
    shop_id = shops["b"].id
    assert SECRET_PRODUCT in client.get(f"/boutique/{shop_id}/catalogue").text
    assert SECRET_CUSTOMER in client.get("/boutique/commandes/").text
    slip = client.get(f"/boutique/commandes/{shops['sub'].id}/bon").text
    assert SECRET_SKU in slip and re.search(SECRET_CUSTOMER, slip)
