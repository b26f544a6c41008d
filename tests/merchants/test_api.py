"""The merchant API: catalogue, stock, import and export through a bearer token, with
the back office's rules, the one error shape, and another shop's staff getting 404
with nothing leaked."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.api_auth import create_token, revoke_token
from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import ImportJob, ImportStatus, Product, ProductStatus, Shop, Variant
from merchants.operations import imports as import_ops
from merchants.schemas import MAX_STOCK_ITEMS
from tests.factories import ShopFactory, UserFactory, VariantFactory, add_staff
from tests.merchants.test_import import GOOD_EAN, csv_bytes, row

BASE = "/api/v1/merchant/shops"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bearer(user: Any) -> dict[str, str]:
    _row, token = create_token(user, "caisse")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def m(app: Flask) -> SimpleNamespace:
    """Shop A (its owner's token), shop B with a secret product (its own staff)."""
    shop = ShopFactory(name="Épicerie Fine")
    other = ShopFactory(name="Concurrent")
    owner = UserFactory(roles=[Role.MERCHANT])
    rival = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, owner)
    add_staff(other, rival)
    jam = VariantFactory(
        product__shop=shop,
        product__name="Confiture",
        product__category="Épicerie",
        sku="JAM-1",
        price_cents=650,
        stock=12,
    )
    tea = VariantFactory(
        product__shop=shop,
        product__name="Thé vert",
        product__category="Boissons",
        product__status=ProductStatus.DRAFT,
        sku="TEA-1",
        ean=GOOD_EAN,
        stock=3,
    )
    secret = VariantFactory(
        product__shop=other, product__name="Produit secret", sku="SECRET-1", stock=7
    )
    db.session.commit()
    return SimpleNamespace(
        shop=shop,
        other=other,
        owner=owner,
        rival=rival,
        jam=jam,
        tea=tea,
        secret=secret,
        auth=bearer(owner),
        url=f"{BASE}/{shop.id}",
    )


def assert_error(response: Any, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code and body["status"] and body.get("message"), body
    return body


def stock_of(variant_id: int) -> int:
    db.session.expire_all()
    variant = db.session.get(Variant, variant_id)
    assert variant is not None
    return variant.stock


def count(model: Any, shop: Shop) -> int:
    if model is Variant:
        query = select(func.count(Variant.id)).join(Variant.product)
        return int(db.session.scalar(query.where(Product.shop_id == shop.id)) or 0)
    return int(db.session.scalar(select(func.count(model.id)).where(model.shop_id == shop.id)) or 0)


# -- authentication and isolation -------------------------------------------------------


def _every_call(m: SimpleNamespace, url: str, product_id: int, job_id: int) -> list[tuple]:
    return [
        ("get", f"{url}/products", None),
        ("post", f"{url}/products", {"name": "X", "vat_rate_bp": 2000}),
        ("get", f"{url}/products/{product_id}", None),
        ("patch", f"{url}/products/{product_id}", {"name": "Volé"}),
        ("delete", f"{url}/products/{product_id}", None),
        ("post", f"{url}/products/{product_id}/variants", {"sku": "SECRET-1", "stock": 0}),
        ("put", f"{url}/stock/SECRET-1", {"stock": 0}),
        ("put", f"{url}/stock", [{"sku": "SECRET-1", "stock": 0}]),
        ("get", f"{url}/imports", None),
        ("get", f"{url}/imports/{job_id}", None),
        ("post", f"{url}/imports/{job_id}/apply", None),
        ("get", f"{url}/imports/template", None),
        ("get", f"{url}/export?format=csv", None),
        ("get", f"{url}/export?format=xlsx", None),
    ]


def test_another_shop_s_staff_gets_404_everywhere_and_nothing_changes(
    client: FlaskClient, m: SimpleNamespace
) -> None:
    job = import_ops.create_job(m.other, m.rival, "c.csv", csv_bytes([row(sku="NEW-9")]))
    import_ops.dry_run(job)
    db.session.commit()
    product_id = m.secret.product_id
    calls = _every_call(m, f"{BASE}/{m.other.id}", product_id, job.id)
    # Their product and job through my shop's URLs too.
    calls += _every_call(m, m.url, product_id, job.id)[2:6]
    calls += _every_call(m, m.url, product_id, job.id)[9:11]
    calls.append(("put", f"{m.url}/stock/SECRET-1", {"stock": 0}))
    calls.append(("post", f"{BASE}/{m.other.id}/imports", None))
    calls.append(("get", f"{BASE}/{2**40}/products", None))
    for method, url, body in calls:
        response = getattr(client, method)(url, json=body, headers=m.auth)
        assert_error(response, 404)
        assert "SECRET" not in response.get_data(as_text=True), url
        assert "secret" not in response.get_data(as_text=True), url
    assert stock_of(m.secret.id) == 7
    assert db.session.get(Product, product_id).name == "Produit secret"
    assert db.session.get(ImportJob, job.id).status is ImportStatus.VALID
    # The same calls with their own staff's token work.
    own = client.get(f"{BASE}/{m.other.id}/products/{product_id}", headers=bearer(m.rival))
    assert own.status_code == 200 and own.json["variants"][0]["sku"] == "SECRET-1"


def test_a_token_is_needed_and_a_merchant_role(client: FlaskClient, m: SimpleNamespace) -> None:
    url = f"{m.url}/products"
    missing = client.get(url)
    assert_error(missing, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(client.get(url, headers={"Authorization": "Bearer cpt_nope"}), 401)
    row_, token = create_token(m.owner, "old till")
    revoke_token(row_)
    db.session.commit()
    assert_error(client.get(url, headers={"Authorization": f"Bearer {token}"}), 401)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    assert_error(client.get(url, headers=bearer(resident)), 403)
    # A merchant working for no shop: their own shops only, so 404.
    lone = UserFactory(roles=[Role.MERCHANT])
    db.session.commit()
    assert_error(client.get(url, headers=bearer(lone)), 404)


def test_the_session_cookie_is_ignored(client: FlaskClient, m: SimpleNamespace) -> None:
    from tests.factories import DEFAULT_PASSWORD
    from tests.helpers import login

    login(client, m.owner.email, DEFAULT_PASSWORD)
    assert_error(client.get(f"{m.url}/products"), 401)


# -- catalogue ------------------------------------------------------------------------------


def test_list_filters_and_paginates(client: FlaskClient, m: SimpleNamespace) -> None:
    response = client.get(f"{m.url}/products", headers=m.auth)
    assert response.status_code == 200
    names = {p["name"] for p in response.json}
    assert names == {"Confiture", "Thé vert"}  # both statuses, never the other shop's
    assert '"total": 2' in response.headers["X-Pagination"]

    def names_for(query: str) -> list[str]:
        found = client.get(f"{m.url}/products?{query}", headers=m.auth)
        assert found.status_code == 200, found.json
        return [p["name"] for p in found.json]

    assert names_for("status=draft") == ["Thé vert"]
    assert names_for("category=Boissons") == ["Thé vert"]
    assert names_for("q=jam") == ["Confiture"]  # by SKU
    assert names_for(f"q={GOOD_EAN}") == ["Thé vert"]  # by EAN
    assert names_for("q=confi") == ["Confiture"]
    assert names_for("q=%25") == []  # LIKE wildcards are literal
    assert len(names_for("page_size=1&page=2")) == 1
    assert names_for("page=99") == []
    jam = client.get(f"{m.url}/products?q=jam", headers=m.auth).json[0]
    assert jam["variants"][0] == {
        "id": m.jam.id,
        "sku": "JAM-1",
        "label": "",
        "options": {},
        "price_cents": 650,
        "stock": 12,
        "made_to_order": False,
        "ean": None,
        "weight_grams": None,
    }
    assert jam["created_at"].endswith("Z") or jam["created_at"].endswith("+00:00")
    assert_error(client.get(f"{m.url}/products?status=sold", headers=m.auth), 422)
    assert_error(client.get(f"{m.url}/products?page_size=1000", headers=m.auth), 422)


def test_create_a_product_with_variants(client: FlaskClient, m: SimpleNamespace) -> None:
    body = {
        "name": "  Pull marin ",
        "vat_rate_bp": 2000,
        "category": "Vêtements",
        "status": "published",
        "variants": [
            {"sku": "PULL-M", "price_cents": 5900, "stock": 4, "options": {"taille": "M"}},
            {"sku": "PULL-L", "price_cents": 5900, "made_to_order": True, "weight_grams": 450},
        ],
    }
    response = client.post(f"{m.url}/products", json=body, headers=m.auth)
    assert response.status_code == 201, response.json
    product = response.json
    assert product["name"] == "Pull marin" and product["slug"] == "pull-marin"
    assert product["status"] == "published" and product["vat_rate_bp"] == 2000
    assert [(v["sku"], v["stock"], v["label"]) for v in product["variants"]] == [
        ("PULL-M", 4, "M"),
        ("PULL-L", 0, ""),
    ]
    assert product["variants"][1]["made_to_order"] is True
    saved = db.session.get(Product, product["id"])
    assert saved is not None and saved.shop_id == m.shop.id


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"vat_rate_bp": 2000}, ("name",)),
        ({"name": "   ", "vat_rate_bp": 2000}, ("name",)),
        ({"name": "x" * 201, "vat_rate_bp": 2000}, ("name",)),
        ({"name": "Pull", "vat_rate_bp": 1900}, ("vat_rate_bp",)),
        ({"name": "Pull", "vat_rate_bp": "20"}, ("vat_rate_bp",)),
        ({"name": "Pull", "vat_rate_bp": 2000, "status": "sold"}, ("status",)),
        ({"name": "Pull", "vat_rate_bp": 2000, "status": "published"}, ("status",)),
        (
            {"name": "Pull", "vat_rate_bp": 2000, "variants": [{"sku": "A", "price_cents": -1}]},
            ("variants", "0", "price_cents"),
        ),
        (
            {"name": "Pull", "vat_rate_bp": 2000, "variants": [{"sku": "A", "price_cents": 10**9}]},
            ("variants", "0", "price_cents"),
        ),
        (
            {"name": "Pull", "vat_rate_bp": 2000, "variants": [{"sku": "A", "price_cents": 1.5}]},
            ("variants", "0", "price_cents"),
        ),
        (
            {"name": "Pull", "vat_rate_bp": 2000, "variants": [{"sku": "A"}]},
            ("variants", "0", "price_cents"),
        ),
        (
            {
                "name": "Pull",
                "vat_rate_bp": 2000,
                "variants": [{"sku": "A", "price_cents": 100, "ean": "1234567890123"}],
            },
            ("variants", "0", "ean"),
        ),
        (
            {
                "name": "Pull",
                "vat_rate_bp": 2000,
                "variants": [{"sku": "A", "price_cents": 100, "stock": -3}],
            },
            ("variants", "0", "stock"),
        ),
        (
            {
                "name": "Pull",
                "vat_rate_bp": 2000,
                "variants": [
                    {"sku": "OK", "price_cents": 100},
                    {"sku": "JAM-1", "price_cents": 100},
                ],
            },
            ("variants", "1", "sku"),
        ),
        (
            {
                "name": "Pull",
                "vat_rate_bp": 2000,
                "variants": [{"sku": "D", "price_cents": 1}, {"sku": "D", "price_cents": 1}],
            },
            ("variants", "1", "sku"),
        ),
        (
            {
                "name": "Pull",
                "vat_rate_bp": 2000,
                "variants": [
                    {
                        "sku": "A",
                        "price_cents": 1,
                        "options": {"a": "1", "b": "2", "c": "3", "d": "4"},
                    }
                ],
            },
            ("variants", "0", "options"),
        ),
        ({"name": "Pull", "vat_rate_bp": 2000, "unknown": 1}, ("unknown",)),
    ],
)
def test_create_refuses_bad_input_naming_the_field(
    client: FlaskClient, m: SimpleNamespace, body: dict[str, Any], where: tuple[str, ...]
) -> None:
    before = count(Product, m.shop)
    body_ = assert_error(client.post(f"{m.url}/products", json=body, headers=m.auth), 422)
    errors: Any = body_["errors"]["json"]
    for key in where:
        assert key in errors, (where, body_["errors"])
        errors = errors[key]
    assert count(Product, m.shop) == before


def test_create_refuses_what_is_not_json(client: FlaskClient, m: SimpleNamespace) -> None:
    for data in ("not json", "[]", "null"):
        response = client.post(
            f"{m.url}/products",
            data=data,
            headers={**m.auth, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), data
        assert response.get_json()["code"] == response.status_code


def test_get_patch_and_delete_a_product(client: FlaskClient, m: SimpleNamespace) -> None:
    url = f"{m.url}/products/{m.tea.product_id}"
    got = client.get(url, headers=m.auth)
    assert got.status_code == 200 and got.json["status"] == "draft"
    changed = client.patch(
        url, json={"name": "Thé vert bio", "status": "published"}, headers=m.auth
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Thé vert bio" and changed.json["status"] == "published"
    assert changed.json["slug"] == got.json["slug"]  # links keep working
    assert changed.json["category"] == "Boissons"  # untouched
    archived = client.patch(url, json={"status": "archived"}, headers=m.auth)
    assert archived.json["status"] == "archived" and archived.json["name"] == "Thé vert bio"
    assert_error(client.patch(url, json={"name": ""}, headers=m.auth), 422)
    assert_error(client.patch(url, json={"vat_rate_bp": 7}, headers=m.auth), 422)
    assert_error(client.get(f"{m.url}/products/{2**40}", headers=m.auth), 404)
    deleted = client.delete(url, headers=m.auth)
    assert deleted.status_code == 204 and deleted.data == b""
    assert_error(client.get(url, headers=m.auth), 404)
    assert_error(client.delete(url, headers=m.auth), 404)


def test_publishing_needs_a_priced_variant(client: FlaskClient, m: SimpleNamespace) -> None:
    free = VariantFactory(product__shop=m.shop, product__status=ProductStatus.DRAFT, price_cents=0)
    db.session.commit()
    url = f"{m.url}/products/{free.product_id}"
    body = assert_error(client.patch(url, json={"status": "published"}, headers=m.auth), 422)
    assert "status" in body["errors"]["json"]
    db.session.expire_all()
    assert db.session.get(Product, free.product_id).status is ProductStatus.DRAFT


def test_upsert_a_variant_by_sku(client: FlaskClient, m: SimpleNamespace) -> None:
    url = f"{m.url}/products/{m.jam.product_id}/variants"
    added = client.post(url, json={"sku": "JAM-2", "price_cents": 900, "stock": 5}, headers=m.auth)
    assert added.status_code == 200, added.json
    assert added.json["sku"] == "JAM-2" and added.json["stock"] == 5
    # Changing the price keeps the stock (fields not given keep their value).
    changed = client.post(url, json={"sku": "JAM-1", "price_cents": 700}, headers=m.auth)
    assert changed.status_code == 200, changed.json
    assert changed.json["id"] == m.jam.id
    assert (changed.json["price_cents"], changed.json["stock"]) == (700, 12)
    taken = client.post(url, json={"sku": "TEA-1", "price_cents": 1}, headers=m.auth)
    assert "sku" in assert_error(taken, 422)["errors"]["json"]
    no_price = client.post(url, json={"sku": "NEW-3"}, headers=m.auth)
    assert "price_cents" in assert_error(no_price, 422)["errors"]["json"]
    bad_ean = client.post(url, json={"sku": "JAM-1", "ean": "123"}, headers=m.auth)
    assert "ean" in assert_error(bad_ean, 422)["errors"]["json"]
    assert "sku" in assert_error(client.post(url, json={}, headers=m.auth), 422)["errors"]["json"]
    assert count(Variant, m.shop) == 3


# -- stock ----------------------------------------------------------------------------------


def test_set_the_stock_of_one_sku(client: FlaskClient, m: SimpleNamespace) -> None:
    response = client.put(f"{m.url}/stock/JAM-1", json={"stock": 40}, headers=m.auth)
    assert response.status_code == 200, response.json
    assert response.json == {
        "sku": "JAM-1",
        "variant_id": m.jam.id,
        "product_id": m.jam.product_id,
        "stock": 40,
        "made_to_order": False,
    }
    assert stock_of(m.jam.id) == 40
    assert_error(client.put(f"{m.url}/stock/NOPE", json={"stock": 1}, headers=m.auth), 404)
    for bad in ({"stock": -1}, {"stock": "12"}, {"stock": 2_000_000}, {}, {"stock": None}):
        refused = client.put(f"{m.url}/stock/JAM-1", json=bad, headers=m.auth)
        assert "stock" in assert_error(refused, 422)["errors"]["json"], bad
    # stock_was: a sale since the till read it is not undone.
    stale = client.put(f"{m.url}/stock/JAM-1", json={"stock": 5, "stock_was": 41}, headers=m.auth)
    assert "stock" in assert_error(stale, 422)["errors"]["json"]
    ok = client.put(f"{m.url}/stock/JAM-1", json={"stock": 5, "stock_was": 40}, headers=m.auth)
    assert ok.status_code == 200
    assert stock_of(m.jam.id) == 5


def test_set_the_stock_of_many_skus_all_or_nothing(client: FlaskClient, m: SimpleNamespace) -> None:
    url = f"{m.url}/stock"
    ok = client.put(
        url, json=[{"sku": "JAM-1", "stock": 1}, {"sku": "TEA-1", "stock": 2}], headers=m.auth
    )
    assert ok.status_code == 200, ok.json
    assert [(i["sku"], i["stock"]) for i in ok.json] == [("JAM-1", 1), ("TEA-1", 2)]
    for body, index in [
        ([{"sku": "JAM-1", "stock": 9}, {"sku": "SECRET-1", "stock": 9}], "1"),
        ([{"sku": "JAM-1", "stock": 9}, {"sku": "JAM-1", "stock": 8}], "1"),
        ([{"sku": "JAM-1", "stock": 9}, {"sku": "TEA-1", "stock": -1}], "1"),
        ([{"sku": "JAM-1", "stock": 9}, {"sku": "TEA-1", "stock": 9, "stock_was": 99}], "1"),
        ([{"sku": "JAM-1"}], "0"),
        ([{"sku": "", "stock": 1}], "0"),
    ]:
        refused = assert_error(client.put(url, json=body, headers=m.auth), 422)
        assert index in refused["errors"]["json"], (body, refused)
        assert (stock_of(m.jam.id), stock_of(m.tea.id)) == (1, 2), body
    too_many = [{"sku": f"S{i}", "stock": 1} for i in range(MAX_STOCK_ITEMS + 1)]
    assert_error(client.put(url, json=too_many, headers=m.auth), 422)
    assert_error(client.put(url, json={"sku": "JAM-1", "stock": 3}, headers=m.auth), 422)
    assert client.put(url, json=[], headers=m.auth).json == []
    assert stock_of(m.secret.id) == 7


def test_made_to_order_stock_may_be_left_empty(client: FlaskClient, m: SimpleNamespace) -> None:
    VariantFactory(product__shop=m.shop, sku="CAKE", made_to_order=True, stock=0)
    db.session.commit()
    response = client.put(f"{m.url}/stock/CAKE", json={"stock": 3}, headers=m.auth)
    assert response.status_code == 200 and response.json["made_to_order"] is True


# -- import and export ----------------------------------------------------------------------


def upload(client: FlaskClient, m: SimpleNamespace, content: bytes, name: str = "c.csv") -> Any:
    return client.post(
        f"{m.url}/imports",
        data={"file": (io.BytesIO(content), name)},
        headers=m.auth,
        content_type="multipart/form-data",
    )


def test_import_dry_run_then_apply(client: FlaskClient, m: SimpleNamespace) -> None:
    content = csv_bytes(
        [row(sku="ABR-1"), row(sku="ABR-2", option1_name="taille", option1_value="L")]
    )
    checked = upload(client, m, content)
    assert checked.status_code == 201, checked.json
    job = checked.json
    assert job["status"] == "valid" and job["running"] is False
    assert job["total_rows"] == 2 and job["error_count"] == 0 and job["format"] == "csv"
    assert count(Variant, m.shop) == 2  # nothing written by the dry run
    applied = client.post(f"{m.url}/imports/{job['id']}/apply", headers=m.auth)
    assert applied.status_code == 202, applied.json
    assert applied.json["status"] == "applied"
    assert applied.json["summary"]["variants_created"] == 2
    assert count(Variant, m.shop) == 4
    again = client.post(f"{m.url}/imports/{job['id']}/apply", headers=m.auth)
    assert again.status_code == 202 and again.json["status"] == "applied"
    assert count(Variant, m.shop) == 4
    status = client.get(f"{m.url}/imports/{job['id']}", headers=m.auth)
    assert status.status_code == 200 and status.json["processed_rows"] == 2
    listed = client.get(f"{m.url}/imports", headers=m.auth)
    assert [j["id"] for j in listed.json] == [job["id"]]


def test_import_lists_bad_rows_and_cannot_be_applied(
    client: FlaskClient, m: SimpleNamespace
) -> None:
    content = csv_bytes([row(sku="OK-1"), row(sku="BAD-1", price="-3"), row(sku="OK-1")])
    job = upload(client, m, content).json
    assert job["status"] == "invalid" and job["error_count"] >= 2
    problems = {(p["row"], p["column"]) for p in job["errors"] if p["level"] == "error"}
    assert (3, "price") in problems and (4, "sku") in problems
    refused = client.post(f"{m.url}/imports/{job['id']}/apply", headers=m.auth)
    assert_error(refused, 409)
    assert count(Variant, m.shop) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\xd0\xcf\x11\xe0" + b"\0" * 100,  # old .xls
        b"PK\x03\x04garbage",  # a zip that is not a workbook
        "sku;nom\nA;é".encode("utf-16"),  # wrong encoding, wrong header
        b"=cmd|' /C calc'!A0;x\n",  # formula, no header
    ],
)
def test_hostile_files_are_reported_not_crashing(
    client: FlaskClient, m: SimpleNamespace, content: bytes
) -> None:
    response = upload(client, m, content, "x.csv")
    assert response.status_code == 201, response.json
    assert response.json["status"] == "invalid" and response.json["errors"]


def test_upload_refuses_no_file_an_empty_one_and_a_too_large_one(
    client: FlaskClient, m: SimpleNamespace
) -> None:
    none = client.post(
        f"{m.url}/imports", data={}, headers=m.auth, content_type="multipart/form-data"
    )
    assert "file" in assert_error(none, 422)["errors"]["files"]
    empty = upload(client, m, b"")
    assert "file" in assert_error(empty, 422)["errors"]["files"]
    big = upload(client, m, b"a" * (import_ops.MAX_UPLOAD_BYTES + 100 * 1024))
    assert_error(big, 413)
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_long_import_runs_in_celery(app: Flask, client: FlaskClient, m: SimpleNamespace) -> None:
    app.config["CATALOGUE_IMPORT_ASYNC_ROWS"] = 2
    try:
        rows = [row(sku=f"LONG-{i}", product_name=f"Produit {i}") for i in range(5)]
        job = upload(client, m, csv_bytes(rows)).json
        # Tasks run eagerly in tests: checked by the time the upload returns.
        status = client.get(f"{m.url}/imports/{job['id']}", headers=m.auth).json
        assert status["status"] == "valid" and status["total_rows"] == 5
        applied = client.post(f"{m.url}/imports/{job['id']}/apply", headers=m.auth)
        assert applied.status_code == 202
        status = client.get(f"{m.url}/imports/{job['id']}", headers=m.auth).json
        assert status["status"] == "applied" and status["summary"]["variants_created"] == 5
    finally:
        app.config.pop("CATALOGUE_IMPORT_ASYNC_ROWS", None)


def test_a_running_import_is_not_applied_twice(client: FlaskClient, m: SimpleNamespace) -> None:
    job = import_ops.create_job(m.shop, m.owner, "x.csv", csv_bytes([row(sku="RUN-1")]))
    job.status = ImportStatus.APPLYING
    db.session.commit()
    response = client.post(f"{m.url}/imports/{job.id}/apply", headers=m.auth)
    assert response.status_code == 202 and response.json["running"] is True
    assert count(Variant, m.shop) == 2


def test_export_round_trips_through_the_import(client: FlaskClient, m: SimpleNamespace) -> None:
    exported = client.get(f"{m.url}/export?format=csv", headers=m.auth)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    text = exported.data.decode("utf-8-sig")
    assert "JAM-1" in text and "TEA-1" in text and "SECRET" not in text
    job = upload(client, m, exported.data, "export.csv").json
    assert job["status"] == "valid", job["errors"]
    applied = client.post(f"{m.url}/imports/{job['id']}/apply", headers=m.auth).json
    assert applied["summary"]["changes"] == 0
    xlsx = client.get(f"{m.url}/export?format=xlsx", headers=m.auth)
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX and xlsx.data.startswith(b"PK")
    assert_error(client.get(f"{m.url}/export?format=pdf", headers=m.auth), 422)


def test_templates_download(client: FlaskClient, m: SimpleNamespace) -> None:
    csv_ = client.get(f"{m.url}/imports/template", headers=m.auth)
    assert csv_.status_code == 200 and csv_.data.decode("utf-8-sig").startswith("sku;")
    xlsx = client.get(f"{m.url}/imports/template?format=xlsx", headers=m.auth)
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX


def test_openapi_documents_the_merchant_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    export = paths["/api/v1/merchant/shops/{shop_id}/export"]["get"]
    assert export["responses"]["200"]["content"]["text/csv"]["schema"]["format"] == "binary"
    upload_ = paths["/api/v1/merchant/shops/{shop_id}/imports"]["post"]
    assert "multipart/form-data" in upload_["requestBody"]["content"]
    for path, item in paths.items():
        if path.startswith("/api/v1/merchant/shops/"):
            for method, operation in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    assert {"401", "403", "404"} <= set(operation["responses"]), (method, path)


def test_my_shops_lists_only_the_account_s_shops(client: FlaskClient, m: SimpleNamespace) -> None:
    response = client.get(BASE, headers=m.auth)
    assert response.status_code == 200
    assert response.json == [
        {
            "id": m.shop.id,
            "slug": m.shop.slug,
            "name": "Épicerie Fine",
            "status": "approved",
            "role": "owner",
        }
    ]
    assert_error(client.get(BASE), 401)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    assert_error(client.get(BASE, headers=bearer(resident)), 403)


def test_product_list_queries_do_not_grow_with_the_page(
    client: FlaskClient, m: SimpleNamespace, count_queries: Any
) -> None:
    url = f"{m.url}/products"
    client.get(url, headers=m.auth)  # the token's first use records it
    with count_queries() as two:
        assert len(client.get(url, headers=m.auth).json) == 2
    for i in range(4):
        VariantFactory(product__shop=m.shop, sku=f"MORE-{i}")
    db.session.commit()
    with count_queries() as six:
        assert len(client.get(url, headers=m.auth).json) == 6
    assert six.count == two.count
