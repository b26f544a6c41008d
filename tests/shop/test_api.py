"""The JSON API: the same operations and rules as the pages, token authentication,
one error shape, never a 500 on bad input."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from marketplace.api_auth import create_token, revoke_token
from marketplace.extensions import db
from marketplace.models import ApiToken, Role
from marketplace.payments import gateway
from merchants.models import Closure, ProductStatus, Variant
from shop.models import Order, OrderStatus
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ProductFactory,
    ShopFactory,
    TradeFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import login, signed_webhook
from tests.shop.test_order_flow import stripe_event_for

API = "/api/v1"


@pytest.fixture
def shops(app):
    commune = CommuneFactory(name="Marmande", slug="marmande")
    other_commune = CommuneFactory(name="Tonneins", slug="tonneins")
    books = TradeFactory(slug="librairie", name_fr="Librairie", name_en="Bookshop")
    shop_a = ShopFactory(commune=commune, trade=books, name="La Bouquinerie", slug="bouquinerie")
    shop_b = ShopFactory(commune=other_commune, name="Fromagerie du Marché", slug="fromagerie")
    shop_a.closures.append(
        Closure(
            starts_on=date.today() + timedelta(days=20),
            ends_on=date.today() + timedelta(days=22),
            reason="Inventaire",
        )
    )
    book = VariantFactory(
        product__shop=shop_a,
        product__name="Roman",
        product__slug="roman",
        product__vat_rate_bp=550,
        price_cents=1990,
        stock=3,
        options={"format": "Poche"},
    )
    cheese = VariantFactory(product__shop=shop_b, product__name="Tomme", price_cents=650, stock=5)
    draft = VariantFactory(product__shop=shop_a, product__status=ProductStatus.DRAFT)
    db.session.commit()
    return {"a": shop_a, "b": shop_b, "book": book, "cheese": cheese, "draft": draft}


def bearer(user, name: str = "tests") -> dict[str, str]:
    _row, token = create_token(user, name)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def resident(app):
    user = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    return user


@pytest.fixture
def auth(resident):
    return bearer(resident)


def assert_error(response, status: int) -> dict:
    """The one error shape, with a message people can read."""
    assert response.status_code == status, (response.status_code, response.get_data(True))
    body = response.json
    assert body["code"] == status and body["status"] and body.get("message"), body
    return body


def checkout_body(*shops, key: str | None = None) -> dict:
    return {
        "checkout_key": key or str(uuid.uuid4()),
        "contact": {
            "name": "Camille Martin",
            "email": "Camille@Example.org",
            "phone": "0612345678",
        },
        "fulfilment": {str(s.id): "click_and_collect" for s in shops},
    }


def test_full_order_through_the_api(app, client, shops, resident, auth):
    add = client.post(
        f"{API}/basket/lines", json={"variant_id": shops["book"].id, "quantity": 2}, headers=auth
    )
    assert add.status_code == 200, add.json
    add = client.post(
        f"{API}/basket/lines", json={"variant_id": shops["cheese"].id, "quantity": 1}, headers=auth
    )
    basket = client.get(f"{API}/basket", headers=auth).json
    assert basket == add.json
    assert [g["shop"]["name"] for g in basket["shops"]] == [
        "Fromagerie du Marché",
        "La Bouquinerie",
    ]
    assert basket["total_cents"] == 2 * 1990 + 650 and basket["item_count"] == 3
    assert basket["shops"][1]["fulfilment_methods"] == ["click_and_collect"]

    body = checkout_body(shops["a"], shops["b"])
    placed = client.post(f"{API}/checkout", json=body, headers=auth)
    assert placed.status_code == 201, placed.json
    order = placed.json["order"]
    assert placed.json["client_secret"].startswith("pi_")
    assert order["status"] == "pending_payment" and order["total_cents"] == 4630
    assert order["contact"]["email"] == "camille@example.org"
    assert {s["shop"]["slug"] for s in order["sub_orders"]} == {"bouquinerie", "fromagerie"}
    assert all(s["pickup_code"] is None for s in order["sub_orders"])  # not before paying
    db.session.expire_all()
    assert db.session.get(Variant, shops["book"].id).stock == 1  # reserved at checkout
    assert client.get(f"{API}/basket", headers=auth).json["shops"] == []

    again = client.post(f"{API}/checkout", json=body, headers=auth)
    assert again.status_code == 201 and again.json["order"]["id"] == order["id"]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1

    method = gateway().create_test_card_method(
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    )
    paid = client.post(
        f"{API}/orders/{order['id']}/payment", json={"payment_method": method}, headers=auth
    )
    assert paid.status_code == 200, paid.json
    assert paid.json == {"status": "succeeded", "error": None, "client_secret": None}

    row = db.session.scalar(select(Order).where(Order.public_id == uuid.UUID(order["id"])))
    payload = stripe_event_for(row.payments[0].intent_id)
    headers = signed_webhook(payload, app.config["STRIPE_WEBHOOK_SECRET"])
    hook = client.post("/paiements/stripe/webhook", data=payload, headers=headers)
    assert hook.json["outcome"] == "paid"

    detail = client.get(f"{API}/orders/{order['id']}", headers=auth).json
    assert detail["status"] == "paid" and detail["payment_status"] == "succeeded"
    assert detail["paid_at"].endswith("+00:00")
    for sub in detail["sub_orders"]:
        assert sub["status"] == "paid" and len(sub["pickup_code"]) == 6
        assert sub["ready_not_before"].endswith("+00:00")
        assert [e["to_status"] for e in sub["history"]] == ["pending_payment", "paid"]
    lines = {ln["product_name"]: ln for s in detail["sub_orders"] for ln in s["lines"]}
    assert lines["Roman"]["unit_price_cents"] == 1990 and lines["Roman"]["vat_rate_bp"] == 550
    assert lines["Roman"]["total_cents"] == 3980

    listing = client.get(f"{API}/orders", headers=auth)
    assert [o["id"] for o in listing.json] == [order["id"]]
    assert '"total": 1' in listing.headers["X-Pagination"]


def test_declined_card_is_reported_not_an_error(app, client, shops, auth):
    client.post(
        f"{API}/basket/lines", json={"variant_id": shops["cheese"].id, "quantity": 1}, headers=auth
    )
    order = client.post(f"{API}/checkout", json=checkout_body(shops["b"]), headers=auth).json
    method = gateway().create_test_card_method(
        {"number": "4000000000000341", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    )
    result = client.post(
        f"{API}/orders/{order['order']['id']}/payment",
        json={"payment_method": method},
        headers=auth,
    )
    assert result.status_code == 200
    assert result.json["status"] == "requires_payment_method" and result.json["error"]
    db.session.expire_all()
    assert db.session.scalar(select(Order)).status is not OrderStatus.PAID


def test_changes_are_shown_before_paying_never_applied_silently(app, client, shops, auth):
    line = f"{API}/basket/lines"
    client.post(line, json={"variant_id": shops["book"].id, "quantity": 3}, headers=auth)
    client.post(line, json={"variant_id": shops["cheese"].id, "quantity": 1}, headers=auth)
    assert client.get(f"{API}/basket", headers=auth).json["changes"] == []
    shops["book"].price_cents = 2490
    shops["book"].stock = 2
    shops["cheese"].product.status = ProductStatus.ARCHIVED
    db.session.commit()

    basket = client.get(f"{API}/basket", headers=auth).json
    assert {"product_name": "Roman", "old_price_cents": 1990, "new_price_cents": 2490} in [
        {k: c[k] for k in ("product_name", "old_price_cents", "new_price_cents")}
        for c in basket["changes"]
    ]
    assert {c["product_name"]: c["new_price_cents"] for c in basket["changes"]}["Tomme"] is None
    refused = assert_error(
        client.post(f"{API}/checkout", json=checkout_body(shops["a"]), headers=auth), 409
    )
    assert "Roman" in refused["message"]

    reviewed = client.post(f"{API}/basket/review", headers=auth)
    assert reviewed.status_code == 200
    assert len(reviewed.json["changes"]) == 3  # price, stock, withdrawn
    assert [g["shop"]["slug"] for g in reviewed.json["shops"]] == ["bouquinerie"]
    assert reviewed.json["shops"][0]["items"][0]["quantity"] == 2
    assert reviewed.json["total_cents"] == 2 * 2490
    assert client.get(f"{API}/basket", headers=auth).json["changes"] == []
    placed = client.post(f"{API}/checkout", json=checkout_body(shops["a"]), headers=auth)
    assert placed.status_code == 201 and placed.json["order"]["total_cents"] == 4980


def test_public_shops_products_and_search(app, client, shops):
    listing = client.get(f"{API}/shops")
    assert listing.status_code == 200
    assert [s["name"] for s in listing.json] == ["Fromagerie du Marché", "La Bouquinerie"]
    assert {"open_now", "next_opening", "commune", "trade"} <= set(listing.json[0])
    assert listing.json[1]["fulfilment_methods"] == ["click_and_collect"]
    by_commune = client.get(f"{API}/shops?commune=tonneins").json
    assert [s["slug"] for s in by_commune] == ["fromagerie"]
    assert [s["slug"] for s in client.get(f"{API}/shops?trade=librairie").json] == ["bouquinerie"]
    page = client.get(f"{API}/shops?page=2&page_size=1")
    assert [s["slug"] for s in page.json] == ["bouquinerie"]
    assert '"total": 2' in page.headers["X-Pagination"]
    assert client.get(f"{API}/shops?page=999999999999").json == []

    shop = client.get(f"{API}/shops/bouquinerie").json
    assert len(shop["hours"]) == 6 and shop["hours"][0] == {
        "weekday": 0,
        "opens_at": "09:00:00",
        "closes_at": "19:00:00",
    }
    assert shop["closures"][0]["reason"] == "Inventaire"
    assert shop["fulfilment"][0]["method"] == "click_and_collect"
    assert shop["fulfilment"][0]["earliest_ready"].endswith("+00:00")

    products = client.get(f"{API}/shops/bouquinerie/products").json
    assert [p["name"] for p in products] == ["Roman"]  # the draft is not for sale
    assert products[0]["price_cents"] == 1990 and products[0]["stock_state"] == "few_left"
    product = client.get(f"{API}/shops/bouquinerie/products/roman").json
    assert product["vat_rate_bp"] == 550 and product["shop"]["slug"] == "bouquinerie"
    assert product["variants"] == [
        {
            "id": shops["book"].id,
            "sku": shops["book"].sku,
            "label": "Poche",
            "options": {"format": "Poche"},
            "price_cents": 1990,
            "stock_state": "few_left",
            "max_quantity": 3,
        }
    ]

    found = client.get(f"{API}/search?q=roman")
    assert found.status_code == 200, found.json
    assert [p["name"] for p in found.json["products"]] == ["Roman"]
    assert found.json["products"][0]["shop"]["slug"] == "bouquinerie"
    assert found.json["total"] == 1 and found.json["page"] == 1
    assert client.get(f"{API}/search?q=roman&commune=tonneins").json["total"] == 0
    assert client.get(f"{API}/search?q=roman&max_price=1000").json["total"] == 0
    assert client.get(f"{API}/search?q=fromagerie").json["shops"][0]["slug"] == "fromagerie"


def test_public_endpoints_reject_bad_input(app, client, shops):
    assert_error(client.get(f"{API}/shops/nowhere"), 404)
    assert_error(client.get(f"{API}/shops/bouquinerie/products/nothing"), 404)
    assert_error(client.get(f"{API}/shops/nowhere/products"), 404)
    draft = shops["draft"].product
    assert_error(client.get(f"{API}/shops/bouquinerie/products/{draft.slug}"), 404)
    for query, field in (
        ("commune=atlantis", "commune"),
        ("trade=nope", "trade"),
        ("page=0", "page"),
        ("page_size=100000", "page_size"),
        ("commune=<script>", "commune"),
    ):
        body = assert_error(client.get(f"{API}/shops?{query}"), 422)
        assert field in body["errors"]["query"], body
    for query, field in (
        ("q=" + "x" * 500, "q"),
        ("q=a&min_price=-1", "min_price"),
        ("q=a&min_price=500&max_price=100", "max_price"),
        ("q=a&sort=random", "sort"),
        ("q=a&fulfilment=teleport", "fulfilment"),
        ("q=a&page=99999999999", "page"),
        ("q=a&max_price=99999999999999999999", "max_price"),
    ):
        body = assert_error(client.get(f"{API}/search?{query}"), 422)
        assert field in body["errors"]["query"], body
    assert_error(client.post(f"{API}/shops"), 405)


def test_basket_follows_the_pages_rules(app, client, shops, auth):
    line = f"{API}/basket/lines"
    for payload, field in (
        ({"variant_id": 999999, "quantity": 1}, "variant_id"),
        ({"variant_id": shops["draft"].id, "quantity": 1}, "variant_id"),
        ({"variant_id": 2**40, "quantity": 1}, "variant_id"),
        ({"variant_id": shops["book"].id, "quantity": -1}, "quantity"),
        ({"variant_id": shops["book"].id, "quantity": 0}, "quantity"),
        ({"variant_id": shops["book"].id, "quantity": 10**12}, "quantity"),
        ({"variant_id": shops["book"].id, "quantity": "2"}, "quantity"),
        ({"variant_id": "abc", "quantity": 1}, "variant_id"),
        ({"variant_id": shops["book"].id}, "quantity"),
        ({"variant_id": shops["book"].id, "quantity": 1, "price_cents": 1}, "price_cents"),
    ):
        body = assert_error(client.post(line, json=payload, headers=auth), 422)
        assert field in body["errors"]["json"], (payload, body)
    assert_error(client.post(line, data="not json", headers=auth), 422)

    short = assert_error(
        client.post(line, json={"variant_id": shops["book"].id, "quantity": 4}, headers=auth),
        409,
    )
    assert "3" in short["message"] and "quantity" in short["errors"]["json"]
    ok = client.post(line, json={"variant_id": shops["book"].id, "quantity": 3}, headers=auth)
    assert ok.status_code == 200
    assert_error(
        client.post(line, json={"variant_id": shops["book"].id, "quantity": 1}, headers=auth), 409
    )

    one = f"{line}/{shops['book'].id}"
    assert client.put(one, json={"quantity": 1}, headers=auth).json["item_count"] == 1
    assert_error(client.put(one, json={"quantity": 4}, headers=auth), 409)
    assert_error(client.put(one, json={"quantity": 100}, headers=auth), 422)
    assert_error(client.put(one, json={"quantity": -5}, headers=auth), 422)
    assert_error(client.put(f"{line}/999999", json={"quantity": 1}, headers=auth), 404)
    assert_error(client.put(f"{line}/{2**40}", json={"quantity": 1}, headers=auth), 404)
    assert_error(client.put(f"{line}/-3", json={"quantity": 1}, headers=auth), 404)
    assert_error(client.put(f"{line}/{shops['draft'].id}", json={"quantity": 1}, headers=auth), 404)
    assert client.delete(one, headers=auth).json["shops"] == []
    assert_error(client.delete(one, headers=auth), 404)
    assert_error(client.delete(f"{line}/{2**40}", headers=auth), 404)

    client.put(one, json={"quantity": 2}, headers=auth)
    assert client.put(one, json={"quantity": 0}, headers=auth).json["shops"] == []


def test_checkout_rejects_bad_input(app, client, shops, resident, auth):
    empty = assert_error(client.post(f"{API}/checkout", json=checkout_body(), headers=auth), 409)
    assert "vide" in empty["message"]
    client.post(
        f"{API}/basket/lines", json={"variant_id": shops["book"].id, "quantity": 1}, headers=auth
    )
    good = checkout_body(shops["a"])
    for change, field in (
        ({"checkout_key": "not-a-uuid"}, "checkout_key"),
        ({"checkout_key": None}, "checkout_key"),
        ({"contact": {"name": "C", "email": "nope", "phone": "12"}}, "contact"),
        ({"fulfilment": {str(shops["a"].id): "teleport"}}, "fulfilment"),
        ({"fulfilment": {"abc": "click_and_collect"}}, "fulfilment"),
        ({"fulfilment": {}}, "fulfilment"),  # no choice for the shop in the basket
        ({"fulfilment": {str(shops["a"].id): "express"}}, "fulfilment"),  # not offered
    ):
        body = assert_error(
            client.post(f"{API}/checkout", json={**good, **change}, headers=auth), 422
        )
        assert field in body["errors"]["json"], (change, body)
    missing = assert_error(client.post(f"{API}/checkout", json={}, headers=auth), 422)
    assert set(missing["errors"]["json"]) == {"checkout_key", "contact", "fulfilment"}
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    db.session.expire_all()
    assert db.session.get(Variant, shops["book"].id).stock == 3

    # Someone else's checkout key never reveals or reuses their order.
    placed = client.post(f"{API}/checkout", json=good, headers=auth)
    assert placed.status_code == 201
    stranger = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    theirs = bearer(stranger)
    client.post(
        f"{API}/basket/lines", json={"variant_id": shops["book"].id, "quantity": 1}, headers=theirs
    )
    body = assert_error(client.post(f"{API}/checkout", json=good, headers=theirs), 422)
    assert "checkout_key" in body["errors"]["json"]


def test_orders_are_private(app, client, shops, auth):
    client.post(
        f"{API}/basket/lines", json={"variant_id": shops["book"].id, "quantity": 1}, headers=auth
    )
    order_id = client.post(f"{API}/checkout", json=checkout_body(shops["a"]), headers=auth).json[
        "order"
    ]["id"]
    stranger = bearer(UserFactory(roles=[Role.RESIDENT]))
    assert_error(client.get(f"{API}/orders/{order_id}", headers=stranger), 404)
    assert_error(
        client.post(
            f"{API}/orders/{order_id}/payment", json={"payment_method": "pm_x"}, headers=stranger
        ),
        404,
    )
    assert client.get(f"{API}/orders", headers=stranger).json == []
    assert_error(client.get(f"{API}/orders/{uuid.uuid4()}", headers=auth), 404)
    assert_error(client.get(f"{API}/orders/not-a-uuid", headers=auth), 404)
    assert_error(client.get(f"{API}/orders/12", headers=auth), 404)
    for method_id in ("not-a-card", "", "pm_" + "x" * 300, 12, None):
        body = assert_error(
            client.post(
                f"{API}/orders/{order_id}/payment",
                json={"payment_method": method_id},
                headers=auth,
            ),
            422,
        )
        assert "payment_method" in body["errors"]["json"]


TOKEN_ENDPOINTS = [
    ("get", "/basket", None),
    ("post", "/basket/review", None),
    ("post", "/basket/lines", {"variant_id": 1, "quantity": 1}),
    ("put", "/basket/lines/1", {"quantity": 1}),
    ("delete", "/basket/lines/1", None),
    ("post", "/checkout", {}),
    ("get", "/orders", None),
    ("get", f"/orders/{uuid.uuid4()}", None),
    ("post", f"/orders/{uuid.uuid4()}/payment", {"payment_method": "pm_x"}),
]


@pytest.mark.parametrize(("method", "path", "payload"), TOKEN_ENDPOINTS)
def test_token_endpoints_need_a_valid_token(app, client, resident, method, path, payload):
    call = getattr(client, method)
    headers_list = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer cpt_not-a-real-token"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    row, token = create_token(resident, "revoked")
    revoke_token(row)
    db.session.commit()
    headers_list.append({"Authorization": f"Bearer {token}"})
    for headers in headers_list:
        response = call(API + path, json=payload, headers=headers)
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_session_cookie_is_not_a_credential(app, client, shops, resident):
    """A browser's session must not drive the API: it would need CSRF protection."""
    login(client, resident.email, DEFAULT_PASSWORD)
    assert client.get("/panier").status_code == 200  # signed in for the pages
    assert_error(client.get(f"{API}/basket"), 401)
    assert_error(
        client.post(f"{API}/basket/lines", json={"variant_id": shops["book"].id, "quantity": 1}),
        401,
    )


def test_inactive_account_and_roles(app, client, shops, resident):
    headers = bearer(resident)
    resident.is_active = False
    db.session.commit()
    assert_error(client.get(f"{API}/basket", headers=headers), 401)

    merchant = UserFactory(roles=[Role.MERCHANT])
    add_staff(shops["a"], merchant)
    db.session.commit()
    theirs = bearer(merchant)
    assert client.get(f"{API}/basket", headers=theirs).status_code == 200
    assert_error(client.post(f"{API}/checkout", json=checkout_body(), headers=theirs), 403)


def test_token_is_stored_hashed_and_use_is_recorded(app, client, resident):
    row, token = create_token(resident, "my app")
    db.session.commit()
    assert token.startswith("cpt_") and len(token) > 40
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert (
        client.get(f"{API}/basket", headers={"Authorization": f"bearer {token}"}).status_code == 200
    )
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at is not None


def test_token_cli(app, runner, resident):
    created = runner.invoke(args=["comptoir", "api-token", "create", resident.email, "CLI"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("cpt_")
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == resident.id))
    assert row.name == "CLI" and row.token_hash != token
    listed = runner.invoke(args=["comptoir", "api-token", "list", resident.email])
    assert "CLI" in listed.output and token not in listed.output
    revoked = runner.invoke(args=["comptoir", "api-token", "revoke", str(row.id)])
    assert revoked.exit_code == 0
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at is not None
    unknown = runner.invoke(args=["comptoir", "api-token", "create", "nobody@example.org", "x"])
    assert unknown.exit_code != 0 and "no account" in unknown.output


def test_shop_list_queries_do_not_grow_with_shops(app, client, count_queries):
    communes = [CommuneFactory() for _ in range(3)]

    def add_shops(n: int) -> None:
        for i in range(n):
            shop = ShopFactory(commune=communes[i % 3])
            if i % 3 == 0:
                shop.closures.append(
                    Closure(
                        starts_on=date.today() + timedelta(days=5),
                        ends_on=date.today() + timedelta(days=6),
                    )
                )
            ProductFactory(shop=shop)
        db.session.commit()

    def queries() -> int:
        client.get(f"{API}/shops?page_size=100")  # warm-up
        with count_queries() as counter:
            response = client.get(f"{API}/shops?page_size=100")
        assert response.status_code == 200
        return counter.count, len(response.json)

    add_shops(5)
    few, shown = queries()
    assert shown == 5
    add_shops(25)
    many, shown = queries()
    assert shown == 30
    assert few == many
