"""The back-office catalogue: products, variants, rules, bulk edit, and isolation
between shops (another shop's staff gets 404, a resident 403, nothing changes)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import Product, ProductStatus, Variant
from merchants.operations import catalogue as ops
from tests.factories import (
    DEFAULT_PASSWORD,
    ProductFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
    add_staff,
)
from tests.helpers import csrf_token, login, main_text

GOOD_EAN = "4006381333931"


@pytest.fixture
def media(app, tmp_path):  # type: ignore[no-untyped-def]
    saved = app.config.get("MEDIA_FOLDER")
    app.config["MEDIA_FOLDER"] = str(tmp_path / "media")
    yield tmp_path / "media"
    app.config["MEDIA_FOLDER"] = saved


@pytest.fixture
def merchant(app, client, media):  # type: ignore[no-untyped-def]
    user = UserFactory(roles=[Role.MERCHANT])
    shop = ShopFactory()
    add_staff(shop, user)
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    return SimpleNamespace(user=user, shop=shop, base=f"/boutique/{shop.id}/catalogue")


def product_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Pull marin",
        "description": "Laine de Bretagne.",
        "category": "Pulls",
        "vat_rate": "2000",
        "status": "draft",
        "variants-0-sku": "PULL-M",
        "variants-0-price": "59,90",
        "variants-0-stock": "4",
        "variants-0-option1_name": "taille",
        "variants-0-option1_value": "M",
        "variants-0-option2_name": "couleur",
        "variants-0-option2_value": "bleu",
        "variants-0-ean": GOOD_EAN,
        "variants-0-weight_grams": "450",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_form(client: FlaskClient, page: str, data: dict[str, Any], action: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(action or page, data={**data, "csrf_token": csrf_token(client, page)})


def products_of(shop) -> list[Product]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(
        db.session.scalars(select(Product).where(Product.shop_id == shop.id).order_by(Product.id))
    )


def error_for(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error shown for {field_id}"
    return re.sub(r"\s+", " ", match.group(1)).strip()


# -- create, read, update, delete ---------------------------------------------------------


def test_create_product_with_variants(client, merchant):
    page = f"{merchant.base}/nouveau"
    data = product_form(
        **{
            "merchant_pick": "y",
            "variants-1-sku": "PULL-L",
            "variants-1-price": "62",
            "variants-1-made_to_order": "y",
            "variants-1-option1_name": "taille",
            "variants-1-option1_value": "L",
        }
    )
    response = post_form(client, page, data)
    assert response.status_code == 302, main_text(response.text)

    [product] = products_of(merchant.shop)
    assert response.headers["Location"].endswith(f"{merchant.base}/{product.id}")
    assert (product.name, product.slug, product.category) == ("Pull marin", "pull-marin", "Pulls")
    assert product.status is ProductStatus.DRAFT and product.merchant_pick
    assert product.vat_rate_bp == 2000
    m, big = product.variants
    assert (m.sku, m.price_cents, m.stock, m.made_to_order) == ("PULL-M", 5990, 4, False)
    assert m.options == {"taille": "M", "couleur": "bleu"}
    assert list(m.options) == ["taille", "couleur"]  # order kept
    assert (m.ean, m.weight_grams) == (GOOD_EAN, 450)
    assert (big.sku, big.price_cents, big.stock, big.made_to_order) == ("PULL-L", 6200, 0, True)

    page = client.get(f"{merchant.base}/{product.id}")
    assert page.status_code == 200
    assert 'value="59,90"' in page.text and "PULL-L" in page.text


def test_slugs_are_unique_per_shop(client, merchant):
    other_shop_product = ProductFactory(slug="pull-marin")  # another shop: no clash
    db.session.commit()
    page = f"{merchant.base}/nouveau"
    for sku in ("A", "B", "C"):
        response = post_form(client, page, product_form(**{"variants-0-sku": sku}))
        assert response.status_code == 302
    assert [p.slug for p in products_of(merchant.shop)] == [
        "pull-marin",
        "pull-marin-2",
        "pull-marin-3",
    ]
    assert other_shop_product.slug == "pull-marin"


def test_edit_product_changes_adds_and_deletes_variants(client, merchant):
    product = ProductFactory(shop=merchant.shop, name="Tomme", slug="tomme")
    keep = VariantFactory(product=product, sku="T-250", price_cents=800, stock=5)
    drop = VariantFactory(product=product, sku="T-500", price_cents=1500, stock=2)
    db.session.commit()
    keep_id, drop_id = keep.id, drop.id
    page = f"{merchant.base}/{product.id}"
    data = {
        "name": "Tomme des Pyrénées",
        "vat_rate": "550",
        "status": "published",
        "category": "Fromages",
        "variants-0-id": str(keep.id),
        "variants-0-sku": "T-250",
        "variants-0-price": "8,50",
        "variants-0-stock": "7",
        "variants-1-id": str(drop.id),
        "variants-1-sku": "T-500",
        "variants-1-price": "15",
        "variants-1-stock": "2",
        "variants-1-delete": "y",
        "variants-2-sku": "T-1000",
        "variants-2-price": "28,00",
        "variants-2-stock": "1",
        "variants-3-sku": "",  # the spare empty row
    }
    response = post_form(client, page, data)
    assert response.status_code == 302, main_text(response.text)

    [product] = products_of(merchant.shop)
    assert (product.name, product.slug, product.vat_rate_bp) == ("Tomme des Pyrénées", "tomme", 550)
    assert [(v.id, v.sku, v.price_cents, v.stock) for v in product.variants] == [
        (keep_id, "T-250", 850, 7),
        (product.variants[1].id, "T-1000", 2800, 1),
    ]
    assert db.session.get(Variant, drop_id) is None


def test_add_variant_button_adds_an_empty_row_without_saving(client, merchant):
    page = f"{merchant.base}/nouveau"
    response = post_form(client, page, {**product_form(), "action": "add_variant"})
    assert response.status_code == 200
    assert 'name="variants-1-sku"' in response.text
    assert products_of(merchant.shop) == []


def test_delete_product(client, merchant):
    product = ProductFactory(shop=merchant.shop)
    VariantFactory(product=product)
    db.session.commit()
    page = f"{merchant.base}/{product.id}"
    response = post_form(client, page, {}, action=f"{page}/supprimer")
    assert response.status_code == 302
    assert products_of(merchant.shop) == []


def test_variant_id_of_another_product_is_refused(client, merchant):
    mine = ProductFactory(shop=merchant.shop)
    VariantFactory(product=mine)
    foreign = VariantFactory(sku="FOREIGN", price_cents=100)
    db.session.commit()
    page = f"{merchant.base}/{mine.id}"
    data = product_form(**{"variants-0-id": str(foreign.id), "variants-0-sku": "HIJACK"})
    response = post_form(client, page, data)
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Variant, foreign.id).sku == "FOREIGN"


# -- rules ------------------------------------------------------------------------------


def test_duplicate_sku_in_the_shop_is_refused_with_a_clear_message(client, merchant):
    existing = ProductFactory(shop=merchant.shop, name="Pull ancien")
    VariantFactory(product=existing, sku="PULL-M")
    # Another shop may use the same SKU.
    VariantFactory(sku="PULL-L")
    db.session.commit()
    page = f"{merchant.base}/nouveau"
    response = post_form(client, page, product_form())
    assert response.status_code == 422
    message = error_for(response.text, "variants-0-sku")
    assert "PULL-M" in message and "déjà utilisée" in message and "Pull ancien" in message
    assert len(products_of(merchant.shop)) == 1

    # Twice in the same form.
    data = product_form(
        **{
            "variants-0-sku": "PULL-L",
            "variants-1-sku": "PULL-L",
            "variants-1-price": "3",
            "variants-1-stock": "1",
        }
    )
    response = post_form(client, page, data)
    assert response.status_code == 422
    assert "deux fois" in error_for(response.text, "variants-1-sku")
    assert len(products_of(merchant.shop)) == 1


def test_bad_ean_is_refused(client, merchant):
    response = post_form(
        client, f"{merchant.base}/nouveau", product_form(**{"variants-0-ean": "4006381333932"})
    )
    assert response.status_code == 422
    assert "EAN invalide" in error_for(response.text, "variants-0-ean")
    assert products_of(merchant.shop) == []


def test_unknown_vat_rate_is_refused(client, merchant):
    response = post_form(client, f"{merchant.base}/nouveau", product_form(vat_rate="1900"))
    assert response.status_code == 422
    assert "Taux de TVA inconnu" in error_for(response.text, "vat_rate")
    assert products_of(merchant.shop) == []


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("-5", "négatif"),
        ("-0,01", "négatif"),
        ("100000,01", "trop élevé"),
        ("1e9", "illisible"),
        ("12,345", "illisible"),
        ("", "Indiquez le prix"),
    ],
)
def test_bad_prices_are_refused(client, merchant, price, expected):
    response = post_form(
        client, f"{merchant.base}/nouveau", product_form(**{"variants-0-price": price})
    )
    assert response.status_code == 422
    assert expected in error_for(response.text, "variants-0-price")
    assert products_of(merchant.shop) == []


def test_negative_stock_and_too_many_options_are_refused(client, merchant):
    data = product_form(
        **{
            "variants-0-stock": "-1",
            "variants-0-option1_name": "taille",
            "variants-0-option1_value": "",
        }
    )
    response = post_form(client, f"{merchant.base}/nouveau", data)
    assert response.status_code == 422
    assert "entier positif" in error_for(response.text, "variants-0-stock")
    assert "nom et une valeur" in error_for(response.text, "variants-0-option1_name")


def test_publish_without_a_priced_variant_is_refused(client, merchant):
    page = f"{merchant.base}/nouveau"
    empty = {k: v for k, v in product_form(status="published").items() if "variants" not in k}
    response = post_form(client, page, empty)
    assert response.status_code == 422
    assert "au moins une variante avec un prix" in error_for(response.text, "status")
    assert products_of(merchant.shop) == []

    response = post_form(client, page, product_form(status="published"))
    assert response.status_code == 302
    [product] = products_of(merchant.shop)
    assert product.status is ProductStatus.PUBLISHED

    # Deleting the last variant of a published product is refused too.
    variant = product.variants[0]
    data = product_form(
        status="published",
        **{"variants-0-id": str(variant.id), "variants-0-delete": "y"},
    )
    response = post_form(client, f"{merchant.base}/{product.id}", data)
    assert response.status_code == 422
    assert len(products_of(merchant.shop)[0].variants) == 1


def test_draft_without_variant_is_fine(client, merchant):
    empty = {k: v for k, v in product_form().items() if "variants" not in k}
    response = post_form(client, f"{merchant.base}/nouveau", empty)
    assert response.status_code == 302
    [product] = products_of(merchant.shop)
    assert product.variants == []


# -- list, search, filters, pagination --------------------------------------------------


def test_list_filters_and_paginates(client, merchant):
    for n in range(55):
        product = ProductFactory(
            shop=merchant.shop,
            name=f"Article {n:02d}",
            category="Livres" if n % 2 else "Jeux",
            status=ProductStatus.DRAFT if n == 7 else ProductStatus.PUBLISHED,
        )
        VariantFactory(product=product, sku=f"REF-{n:02d}")
    other = ProductFactory(name="Article étranger")
    VariantFactory(product=other, sku="REF-XX")
    db.session.commit()

    first = client.get(merchant.base)
    assert first.status_code == 200
    assert "Article 00" in first.text and "Article 49" in first.text
    assert "Article 50" not in first.text and "étranger" not in first.text
    assert "55 produit(s)" in main_text(first.text)
    second = client.get(f"{merchant.base}?page=2")
    assert "Article 50" in second.text and "Article 00" not in second.text

    drafts = client.get(f"{merchant.base}?status=draft")
    assert "Article 07" in drafts.text and "Article 08" not in drafts.text
    books = client.get(f"{merchant.base}?category=Livres")
    assert "Article 01" in books.text and "Article 02" not in books.text
    by_sku = client.get(f"{merchant.base}?q=ref-13")
    assert "Article 13" in by_sku.text and "Article 12" not in by_sku.text
    assert "Article étranger" not in client.get(f"{merchant.base}?q=REF-XX").text
    assert client.get(f"{merchant.base}?q=%25_%5C&status=nope&page=999").status_code == 200


# -- bulk edit --------------------------------------------------------------------------


def _bulk_data(client: FlaskClient, base: str, values: dict[int, tuple[str, str]]) -> dict:
    """The list's form as the browser would send it, with some rows changed."""
    page = client.get(base)
    fields = dict(
        re.findall(
            r'name="((?:price|stock|price_was|stock_was)-\d+)"[^>]*value="([^"]*)"', page.text
        )
    )
    ids = re.findall(r'name="variant_id" value="(\d+)"', page.text)
    data: dict[str, Any] = {**fields, "variant_id": ids}
    for vid, (price, stock) in values.items():
        data[f"price-{vid}"], data[f"stock-{vid}"] = price, stock
    data["csrf_token"] = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    return data


def test_bulk_edit_saves_prices_and_stock(client, merchant):
    product = ProductFactory(shop=merchant.shop, name="Savon")
    a = VariantFactory(product=product, price_cents=450, stock=3)
    b = VariantFactory(product=product, price_cents=500, stock=1)
    c = VariantFactory(product=product, price_cents=700, stock=9)
    db.session.commit()
    data = _bulk_data(client, merchant.base, {a.id: ("4,90", "10"), b.id: ("5,00", "0")})
    response = client.post(merchant.base, data=data)
    assert response.status_code == 302, main_text(response.text)
    db.session.expire_all()
    assert [(v.price_cents, v.stock) for v in (a, b, c)] == [(490, 10), (500, 0), (700, 9)]


def test_bulk_edit_is_all_or_nothing(client, merchant):
    product = ProductFactory(shop=merchant.shop, name="Savon")
    a = VariantFactory(product=product, price_cents=450, stock=3)
    b = VariantFactory(product=product, price_cents=500, stock=1)
    db.session.commit()
    data = _bulk_data(client, merchant.base, {a.id: ("4,90", "10"), b.id: ("-2", "beaucoup")})
    response = client.post(merchant.base, data=data)
    assert response.status_code == 422
    assert "négatif" in error_for(response.text, f"price-{b.id}")
    assert "entier" in error_for(response.text, f"stock-{b.id}")
    assert f'id="price-{a.id}-error"' not in response.text
    assert 'value="beaucoup"' in response.text  # what was typed stays on the page
    db.session.expire_all()
    assert [(v.price_cents, v.stock) for v in (a, b)] == [(450, 3), (500, 1)]


def test_bulk_edit_does_not_undo_a_sale_made_meanwhile(client, merchant):
    product = ProductFactory(shop=merchant.shop)
    v = VariantFactory(product=product, stock=5)
    db.session.commit()
    data = _bulk_data(client, merchant.base, {v.id: ("12,50", "8")})
    v.stock = 4  # a checkout reserved one unit after the page was shown
    db.session.commit()
    response = client.post(merchant.base, data=data)
    assert response.status_code == 422
    assert "maintenant de 4" in error_for(response.text, f"stock-{v.id}")
    db.session.expire_all()
    assert v.stock == 4


def test_bulk_edit_cannot_reach_another_shops_variant(client, merchant):
    mine = VariantFactory(product=ProductFactory(shop=merchant.shop), price_cents=100)
    foreign = VariantFactory(price_cents=100, stock=1)
    db.session.commit()
    data = _bulk_data(client, merchant.base, {mine.id: ("2", "1")})
    data["variant_id"] = [*data["variant_id"], str(foreign.id)]
    data[f"price-{foreign.id}"], data[f"stock-{foreign.id}"] = "0,01", "999"
    response = client.post(merchant.base, data=data)
    assert response.status_code == 422
    db.session.expire_all()
    assert (foreign.price_cents, foreign.stock, mine.price_cents) == (100, 1, 100)


# -- isolation --------------------------------------------------------------------------


def _catalogue_urls(shop_id: int, product_id: int, image_id: int) -> list[tuple[str, str]]:
    base = f"/boutique/{shop_id}/catalogue"
    item = f"{base}/{product_id}"
    return [
        ("GET", base),
        ("POST", base),
        ("GET", f"{base}/nouveau"),
        ("POST", f"{base}/nouveau"),
        ("GET", item),
        ("POST", item),
        ("POST", f"{item}/supprimer"),
        ("GET", f"{item}/photos"),
        ("POST", f"{item}/photos"),
        ("POST", f"{item}/photos/{image_id}/texte"),
        ("POST", f"{item}/photos/{image_id}/deplacer"),
        ("POST", f"{item}/photos/{image_id}/supprimer"),
    ]


@pytest.mark.parametrize("who", ["other_staff", "other_owner", "resident"])
def test_other_shops_and_residents_get_nothing(client, media, who):
    from merchants.models import ProductImage

    shop = ShopFactory()
    product = ProductFactory(shop=shop, name="Secret", status=ProductStatus.DRAFT)
    variant = VariantFactory(product=product, sku="SECRET", price_cents=1000, stock=3)
    image = ProductImage(
        product_id=product.id, alt="x", key="products/ab/" + "ab" * 16, width=1, height=1
    )
    db.session.add(image)
    if who == "resident":
        user = UserFactory(roles=[Role.RESIDENT])
        expected = 403
    else:
        user = UserFactory(roles=[Role.MERCHANT])
        from merchants.models import StaffRole

        add_staff(ShopFactory(), user, StaffRole.STAFF if who == "other_staff" else StaffRole.OWNER)
        expected = 404
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/compte/")
    hostile = {
        "csrf_token": token,
        "name": "Pwned",
        "vat_rate": "2000",
        "status": "archived",
        "variants-0-id": str(variant.id),
        "variants-0-sku": "PWNED",
        "variants-0-price": "0,01",
        "variant_id": str(variant.id),
        f"price-{variant.id}": "0,01",
        f"stock-{variant.id}": "0",
        "alt": "pwned",
        "direction": "down",
    }
    got = {}
    for method, url in _catalogue_urls(shop.id, product.id, image.id):
        response = client.open(url, method=method, data=hostile if method == "POST" else None)
        got[(method, url)] = response.status_code
        assert "SECRET" not in response.text and "Secret" not in response.text
    assert set(got.values()) == {expected}, got
    db.session.expire_all()
    assert (product.name, product.status) == ("Secret", ProductStatus.DRAFT)
    assert (variant.sku, variant.price_cents, variant.stock) == ("SECRET", 1000, 3)
    assert image.alt == "x"
    assert db.session.scalar(select(func.count()).select_from(Product)) >= 1


def test_staff_member_not_only_owner_manages_the_catalogue(client, media):
    from merchants.models import StaffRole

    user = UserFactory(roles=[Role.MERCHANT])
    shop = ShopFactory()
    add_staff(shop, user, StaffRole.STAFF)
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    response = post_form(client, f"/boutique/{shop.id}/catalogue/nouveau", product_form())
    assert response.status_code == 302
    assert len(products_of(shop)) == 1


def test_anonymous_is_sent_to_log_in(client, media):
    shop = ShopFactory()
    db.session.commit()
    response = client.get(f"/boutique/{shop.id}/catalogue")
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


# -- operations used by the import ------------------------------------------------------


def test_validate_variant_fields_reports_every_bad_field(app):
    # Outside a request (the import's Celery task, the CLI) messages are French.
    with pytest.raises(ops.FieldErrors) as caught:
        ops.validate_variant_fields(
            sku="",
            price="-3",
            stock="2.5",
            ean="123",
            weight_grams="lourd",
            options=[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")],
        )
    assert set(caught.value.errors) == {"sku", "price", "stock", "ean", "weight_grams", "options"}
    data = ops.validate_variant_fields(
        sku=" X-1 ", price="1 234,5 €", stock="", made_to_order="oui", options={"taille": "S"}
    )
    assert (data.sku, data.price_cents, data.stock, data.made_to_order) == ("X-1", 123450, 0, True)


@pytest.mark.parametrize(
    ("text", "bp"),
    [("20", 2000), ("20 %", 2000), ("5,5", 550), ("2.1", 210), ("550", 550), ("10%", 1000)],
)
def test_vat_rates_accepted(app, text, bp):
    assert ops.parse_vat_rate(text) == bp


@pytest.mark.parametrize("text", ["19,6", "0", "", "dix", "7"])
def test_vat_rates_refused(app, text):
    with pytest.raises(ValueError, match="Taux de TVA inconnu"):
        ops.parse_vat_rate(text)


def test_upsert_variant_by_sku_and_cross_product_conflict(app):
    shop = ShopFactory()
    a = ProductFactory(shop=shop, status=ProductStatus.DRAFT)
    b = ProductFactory(shop=shop, status=ProductStatus.DRAFT)
    VariantFactory(product=b, sku="TAKEN")
    first = ops.upsert_variant(a, ops.validate_variant_fields(sku="NEW", price="3"))
    again = ops.upsert_variant(a, ops.validate_variant_fields(sku="NEW", price="4", stock="2"))
    assert first is again and (again.price_cents, again.stock) == (400, 2)
    with pytest.raises(ops.CatalogueError) as caught:
        ops.upsert_variant(a, ops.validate_variant_fields(sku="TAKEN", price="1"))
    assert "déjà utilisée" in caught.value.variant_errors[0]["sku"]


def test_create_product_checks_skus_across_the_shop(app):
    shop = ShopFactory()
    VariantFactory(product=ProductFactory(shop=shop), sku="S1")
    data = ops.clean_product_fields(name="Nouveau", vat_rate="20", status="published")
    with pytest.raises(ops.CatalogueError) as caught:
        ops.create_product(
            shop,
            data,
            [
                ops.validate_variant_fields(sku="S2", price="1"),
                ops.validate_variant_fields(sku="S1", price="1"),
            ],
        )
    assert list(caught.value.variant_errors) == [1]
    product = ops.create_product(shop, data, [ops.validate_variant_fields(sku="S2", price="1")])
    assert product.status is ProductStatus.PUBLISHED


def test_same_variant_twice_in_one_form_is_refused(client, merchant):
    product = ProductFactory(shop=merchant.shop, status=ProductStatus.DRAFT)
    variant = VariantFactory(product=product, sku="ONE", price_cents=100)
    db.session.commit()
    data = product_form(
        **{
            "variants-0-id": str(variant.id),
            "variants-0-sku": "A",
            "variants-1-id": str(variant.id),
            "variants-1-sku": "B",
            "variants-1-price": "2",
        }
    )
    response = post_form(client, f"{merchant.base}/{product.id}", data)
    assert response.status_code == 422
    db.session.expire_all()
    assert variant.sku == "ONE"
