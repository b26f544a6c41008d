"""A new merchant in a real browser (Playwright driving Debian's Chromium, in French):
signs a shop up, the collectivité approves it, the merchant imports a 50-product CSV
(dry run, then apply, products published), a resident orders one of them and pays
with a test card, and the merchant takes the order from the queue to the handover
with the resident's pickup code."""

from __future__ import annotations

import csv
import io
import re
from datetime import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import OpeningHours, Product, ProductStatus, Shop, ShopStatus
from merchants.operations.imports import COLUMNS
from shop.models import SubOrder, SubOrderStatus
from tests.factories import DEFAULT_PASSWORD, CommuneFactory, TradeFactory, UserFactory
from tests.integration.test_browser import browser  # noqa: F401 - the Chromium fixture
from tests.merchants.test_onboarding import new_siret

pytestmark = pytest.mark.integration

SHOP_NAME = "Épicerie des Cornières"
PRODUCTS = 50


def catalogue_csv(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(COLUMNS)
    for n in range(1, PRODUCTS + 1):
        values = {
            "sku": f"EPI-{n:03d}",
            "product_name": f"Bocal maison n° {n}",
            "description": "Fait à Marmande.",
            "category": "Épicerie",
            "vat_rate": "5,5",
            "price": f"{3 + n % 7},50",
            "stock": "20",
            "status": "published",
        }
        writer.writerow([values.get(column, "") for column in COLUMNS])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_merchant_joins_imports_and_hands_an_order_over(
    committed_app: Flask,
    live_server: str,
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    commune = CommuneFactory(name="Marmande", slug="marmande", postcodes=["47200"])
    TradeFactory(name_fr="Épicerie fine")
    officer = UserFactory(roles=[Role.STAFF], first_name="Agnès")
    resident = UserFactory(roles=[Role.RESIDENT], first_name="Camille")
    db.session.commit()
    merchant_email = "epicerie@example.org"

    def new_page():  # type: ignore[no-untyped-def]
        page = browser.new_context(locale="fr-FR").new_page()
        page.set_default_timeout(15_000)
        return page

    def log_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
        page.goto(f"{live_server}/compte/connexion")
        page.get_by_label("Adresse e-mail").fill(email)
        page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()

    # 1. The merchant signs the shop up, with the account.
    merchant = new_page()
    merchant.goto(f"{live_server}/boutique/inscription")
    form = merchant.locator("main form")
    form.locator("input[name=first_name]").fill("Louise")
    form.locator("input[name=last_name]").fill("Delmas")
    form.locator("input[name=email]").fill(merchant_email)
    form.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    form.locator("input[name=confirm]").fill(DEFAULT_PASSWORD)
    form.locator("input[name=name]").fill(SHOP_NAME)
    form.locator("input[name=siret]").fill(new_siret())
    form.locator("select[name=trade_id]").select_option(label="Épicerie fine")
    form.locator("input[name=street]").fill("3 place du Marché")
    form.locator("input[name=postcode]").fill("47200")
    form.locator("select[name=commune_id]").select_option(value=str(commune.id))
    form.locator("input[name=phone]").fill("05 53 00 00 00")
    form.locator("input[name=contact_email]").fill(merchant_email)
    form.locator("input[name=accept_terms]").check()
    form.get_by_role("button", name="Inscrire la boutique").click()
    merchant.wait_for_url(re.compile(r".*/boutique/\d+/emplacement$"))
    assert "est inscrite" in merchant.locator("main").inner_text()
    shop_id = int(re.search(r"/boutique/(\d+)/", merchant.url).group(1))

    # 2. The collectivité approves it.
    officer_page = new_page()
    log_in(officer_page, officer.email)
    officer_page.goto(f"{live_server}/collectivite/boutiques")
    officer_page.locator(f"#boutique-{shop_id}").get_by_role("button", name="Valider").click()
    officer_page.wait_for_load_state()
    assert "est validée" in officer_page.locator("main").inner_text()
    db.session.expire_all()
    shop = db.session.get(Shop, shop_id)
    assert shop is not None and shop.status is ShopStatus.APPROVED
    # Its opening hours (entered on the shop's page settings, not under test here).
    for weekday in range(7):
        shop.hours.append(OpeningHours(weekday=weekday, opens_at=time(0), closes_at=time(23, 59)))
    db.session.commit()

    # 3. The merchant imports 50 products: dry run, then apply.
    merchant.goto(f"{live_server}/boutique/{shop_id}/catalogue/import")
    merchant.locator("input[type=file]").set_input_files(str(catalogue_csv(tmp_path / "cat.csv")))
    merchant.get_by_role("button", name="Vérifier le fichier").click()
    merchant.wait_for_url(re.compile(r".*/catalogue/import/\d+$"))
    merchant.get_by_role("button", name=f"Importer ces {PRODUCTS} lignes").click()
    merchant.wait_for_load_state()
    assert f"Catalogue importé : {PRODUCTS} lignes" in merchant.locator("main").inner_text()
    published = db.session.scalars(
        select(Product).where(Product.shop_id == shop_id, Product.status == ProductStatus.PUBLISHED)
    ).all()
    assert len(published) == PRODUCTS

    # 4. A resident orders one product and pays with the test card.
    customer = new_page()
    log_in(customer, resident.email)
    customer.goto(f"{live_server}/boutiques/{shop.slug}")
    customer.get_by_role("link", name="Bocal maison n° 7", exact=True).first.click()
    customer.locator("form.variant button[type=submit]").first.click()
    customer.wait_for_load_state()
    customer.goto(f"{live_server}/panier")
    customer.get_by_role("link", name="Passer la commande").click()
    customer.get_by_label("Téléphone").fill("06 12 34 56 78")
    customer.get_by_role("button", name="Continuer vers le paiement").click()
    customer.wait_for_url(re.compile(r".*/paiement$"))
    card_inputs = customer.locator("#card-element input")
    for index, value in enumerate(["4242424242424242", "12", "34", "123", "47200"]):
        card_inputs.nth(index).fill(value)
    customer.get_by_role("button", name=re.compile("Payer")).click()
    customer.wait_for_url(re.compile(r".*/commandes/[0-9a-f-]+$"))
    for _ in range(20):
        if "Paiement confirmé" in customer.locator("main").inner_text():
            break
        customer.wait_for_timeout(500)
        customer.reload()
    text = customer.locator("main").inner_text()
    assert "Paiement confirmé" in text
    sub = db.session.scalars(select(SubOrder).where(SubOrder.shop_id == shop_id)).one()
    assert sub.pickup_code in text  # shown to the resident, who tells it at the counter

    # 5. The merchant runs it from the queue: accept, ready, hand over with the code.
    merchant.goto(f"{live_server}/boutique/commandes/")
    card = merchant.locator(f"#sub-{sub.id}")
    assert "Bocal maison n° 7" in card.inner_text()
    card.get_by_role("button", name="Accepter").click()
    merchant.wait_for_load_state()
    card = merchant.locator(f"#sub-{sub.id}")
    card.get_by_role("button", name="Prête").click()
    merchant.wait_for_load_state()
    card = merchant.locator(f"#sub-{sub.id}")
    card.get_by_label("Code de retrait").fill(sub.pickup_code)
    card.get_by_role("button", name="Remettre au client").click()
    merchant.wait_for_load_state()
    assert "remise au client" in merchant.locator("main").inner_text()
    db.session.expire_all()
    assert db.session.get(SubOrder, sub.id).status is SubOrderStatus.COLLECTED
