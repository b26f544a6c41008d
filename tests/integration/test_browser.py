"""A resident in a real browser (Playwright driving Debian's Chromium): finds
products, fills a basket from two shops, pays with a test card and sees both
sub-orders paid, confirmed by localstripe's signed webhook."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from flask import Flask

from marketplace.extensions import db
from marketplace.models import Role
from tests.conftest import service_missing
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    UserFactory,
    VariantFactory,
)

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Playwright", exc)
    if not os.path.exists(CHROMIUM):
        service_missing("Chromium", FileNotFoundError(CHROMIUM))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_resident_orders_from_two_shops_in_the_browser(
    committed_app: Flask, live_server: str, browser
) -> None:
    commune = CommuneFactory(name="Marmande", slug="marmande")
    books = ShopFactory(commune=commune, name="La Bouquinerie", slug="la-bouquinerie")
    cheese = ShopFactory(commune=commune, name="Fromagerie du Marché", slug="fromagerie")
    VariantFactory(product__shop=books, product__name="Roman du terroir", price_cents=1990)
    VariantFactory(product__shop=cheese, product__name="Tomme des Pyrénées", price_cents=650)
    resident = UserFactory(roles=[Role.RESIDENT], first_name="Camille")
    db.session.commit()

    page = browser.new_page(locale="fr-FR")  # a French resident: the French interface
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/compte/connexion")
    page.get_by_label("Adresse e-mail").fill(resident.email)
    page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()

    # Search from the home page (stemming: "romans" finds "Roman du terroir")
    page.goto(live_server)
    page.get_by_role("search").get_by_role("searchbox").fill("romans")
    page.get_by_role("search").get_by_role("button").click()
    page.get_by_role("link", name="Roman du terroir").first.click()
    page.locator("form.variant button[type=submit]").first.click()
    page.wait_for_load_state()
    # Then browse the other shop from the home page
    page.goto(live_server)
    page.get_by_role("link", name="Fromagerie du Marché").first.click()
    page.locator("form.variant button[type=submit]").first.click()
    page.wait_for_load_state()

    page.goto(f"{live_server}/panier")
    assert page.get_by_role("heading", name="La Bouquinerie").is_visible()
    assert page.get_by_role("heading", name="Fromagerie du Marché").is_visible()
    page.get_by_role("link", name="Passer la commande").click()
    page.get_by_label("Téléphone").fill("06 12 34 56 78")
    page.get_by_role("button", name="Continuer vers le paiement").click()
    page.wait_for_url(re.compile(r".*/paiement$"))

    # localstripe's Stripe.js imitation: number, month, 2-digit year, CVC, postcode
    card_inputs = page.locator("#card-element input")
    for index, value in enumerate(["4242424242424242", "12", "34", "123", "47200"]):
        card_inputs.nth(index).fill(value)
    page.get_by_role("button", name=re.compile("Payer")).click()
    page.wait_for_url(re.compile(r".*/commandes/[0-9a-f-]+$"))

    # The order turns paid when localstripe's signed webhook reaches the server.
    for _ in range(20):
        if "Paiement confirmé" in page.locator("main").inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    text = page.locator("main").inner_text()
    assert "Paiement confirmé" in text
    assert "La Bouquinerie" in text and "Fromagerie du Marché" in text
    assert text.count("Code de retrait") == 2


def test_resident_pays_with_wallet_credit_in_the_browser(
    committed_app: Flask, live_server: str, browser
) -> None:
    """The credit box, ticked with the keyboard, previews the split; the wallet pays
    everything, so no card is asked: straight to the paid order."""
    from marketplace import ledger
    from tests.factories import give_credit

    commune = CommuneFactory(name="Marmande", slug="marmande")
    books = ShopFactory(commune=commune, name="La Bouquinerie", slug="la-bouquinerie")
    VariantFactory(product__shop=books, product__name="Roman", price_cents=1990)
    resident = UserFactory(roles=[Role.RESIDENT], first_name="Camille")
    give_credit(resident, 2500)
    db.session.commit()

    page = browser.new_page(locale="fr-FR")
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/compte/connexion")
    page.get_by_label("Adresse e-mail").fill(resident.email)
    page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.goto(live_server)
    page.get_by_role("link", name="La Bouquinerie").first.click()
    page.locator("form.variant button[type=submit]").first.click()
    page.wait_for_load_state()

    page.goto(f"{live_server}/commande")
    box = page.get_by_label(re.compile(r"Utiliser mon crédit Comptoir \(25,00\s€ disponibles\)"))
    assert not page.locator("#wallet-used").is_visible()
    box.focus()
    page.keyboard.press("Space")
    assert box.is_checked()
    used = page.locator("#wallet-used")
    assert used.is_visible()
    assert re.sub(r"\s", " ", used.inner_text()) == "Crédit utilisé : −19,90 €"
    assert re.sub(r"\s", " ", page.locator("#card-rest").inner_text()) == (
        "Reste à payer par carte : 0,00 €"
    )
    page.keyboard.press("Space")  # unticked: the preview goes away
    assert not used.is_visible()
    page.keyboard.press("Space")
    page.get_by_label("Téléphone").fill("06 12 34 56 78")
    page.get_by_role("button", name="Continuer vers le paiement").click()
    page.wait_for_url(re.compile(r".*/commandes/[0-9a-f-]+$"))
    text = page.locator("main").inner_text()
    assert "Commande payée avec votre crédit Comptoir." in page.inner_text("body")
    assert "Paiement confirmé" in text and "Code de retrait" in text
    db.session.rollback()
    assert ledger.wallet_credit(resident.id) == 2500 - 1990


def test_cityzen_copies_a_share_link_with_the_keyboard(
    committed_app: Flask, live_server: str, browser
) -> None:
    """The copy button is reached and pressed with the keyboard and says what it
    did in its status (read by screen readers), again on a second press; when the
    clipboard refuses, the link is selected and the status says to copy it."""
    from ambassadors import operations as cz

    commune = CommuneFactory(name="Marmande", slug="marmande")
    books = ShopFactory(commune=commune, name="La Bouquinerie", slug="la-bouquinerie")
    book = VariantFactory(product__shop=books, product__name="Roman", price_cents=1990)
    user = UserFactory(roles=[Role.RESIDENT])
    rec = cz.recommend(cz.opt_in(user, "Alice", True), book.product_id, "Très bien.")
    db.session.commit()
    link = f"/r/{rec.code}"

    def open_dashboard(context):
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server}/compte/connexion")
        page.get_by_label("Adresse e-mail").fill(user.email)
        page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.goto(f"{live_server}/cityzens/mon-credit")
        page.get_by_label("Lien à partager").focus()
        page.keyboard.press("Tab")  # the "open" link
        page.keyboard.press("Tab")
        button = page.get_by_role("button", name="Copier le lien")
        assert button.evaluate("b => b === document.activeElement")
        return page

    context = browser.new_context(locale="fr-FR")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = open_dashboard(context)
    status = page.locator(".copy-status")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.copy-status').textContent !== ''")
    assert status.inner_text() == "Lien copié"
    assert page.evaluate("navigator.clipboard.readText()").endswith(link)
    page.keyboard.press("Enter")  # said again, not left as it was
    page.wait_for_function("document.querySelector('.copy-status').textContent === ''")
    page.wait_for_function("document.querySelector('.copy-status').textContent !== ''")
    context.close()

    context = browser.new_context(locale="fr-FR")
    context.add_init_script(
        "Object.defineProperty(navigator, 'clipboard', {value: {writeText: "
        "() => Promise.reject(new Error('refused'))}})"
    )
    page = open_dashboard(context)
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.copy-status').textContent !== ''")
    assert "copiez-le" in page.locator(".copy-status").inner_text()
    assert page.evaluate("document.activeElement.id") == f"share-{rec.id}"
    assert page.evaluate("window.getSelection().toString() || document.activeElement.value")
    context.close()
