"""An express delivery in real browsers (Playwright driving Debian's Chromium, in
French), three people at once: a resident whose address is inside the express zone
orders, picks a slot and pays with a test card; the shop accepts, prepares and
marks it ready; a courier sees the job, accepts it, picks the parcel up with the
sub-order's code and delivers it with the resident's delivery code; the resident's
order page then says it is delivered.

Nothing is frozen: the shop is open and the couriers work round the clock, with a
late cut-off, so a slot exists whatever the hour the test runs at. The address is
geocoded from the cache (a row as the Base Adresse Nationale would have answered),
with the geocoder pointed at a closed port so nothing leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time

import pytest
from flask import Flask
from sqlalchemy import select

from delivery.models import DeliveryJob, JobStatus
from marketplace.extensions import db
from marketplace.geo import GeocodeCache, address_query, normalise_query
from marketplace.models import FulfilmentMethod, Role, User
from merchants.models import OpeningHours
from shop.models import SubOrder, SubOrderStatus
from tests.delivery.courier_helpers import approved_courier
from tests.delivery.zone_helpers import make_territory
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, VariantFactory, add_staff
from tests.integration.test_browser import browser  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.integration

SHOP_NAME = "Épicerie Express"
PRODUCT = "Panier de fraises"
STREET, POSTCODE = "12 rue Léopold Faye", "47200"
# Round the clock, every day, cut-off at the last minute: a slot always exists.
ROUND_THE_CLOCK = {
    "courier_start": "00:00",
    "courier_end": "23:59",
    "courier_weekdays": [0, 1, 2, 3, 4, 5, 6],
    "express_cutoff": "23:59",
}


@pytest.fixture
def cached_geocoder(committed_app: Flask) -> Iterator[None]:
    """The geocoder on, answering from the cache only (its server is a closed port)."""
    keys = ("GEOCODER_ENABLED", "GEOCODER_DOMAIN", "GEOCODER_SCHEME", "GEOCODER_TIMEOUT")
    saved = {key: committed_app.config.get(key) for key in keys}
    committed_app.config.update(
        GEOCODER_ENABLED=True,
        GEOCODER_DOMAIN="127.0.0.1:9",
        GEOCODER_SCHEME="http",
        GEOCODER_TIMEOUT=1,
    )
    try:
        yield
    finally:
        committed_app.config.update(saved)


def test_resident_gets_an_express_delivery_from_shop_and_courier(
    committed_app: Flask,
    live_server: str,
    browser,  # noqa: F811
    cached_geocoder: None,
) -> None:
    territory = make_territory(settings=ROUND_THE_CLOCK)  # express zone: Marmande-test
    marmande = next(c for c in territory.communes if c.name == "Marmande-test")
    shop = ShopFactory(
        commune=marmande,
        name=SHOP_NAME,
        fulfilment_methods=[FulfilmentMethod.CLICK_AND_COLLECT.value, "express"],
        hours=False,
    )
    for weekday in range(7):
        shop.hours.append(OpeningHours(weekday=weekday, opens_at=time(0), closes_at=time(23, 59)))
    VariantFactory(product__shop=shop, product__name=PRODUCT, price_cents=1200, weight_grams=900)
    merchant = UserFactory(roles=[Role.MERCHANT], first_name="Louise")
    add_staff(shop, merchant)
    resident = UserFactory(roles=[Role.RESIDENT], first_name="Camille")
    courier = approved_courier(territory.id)
    courier_user = db.session.get(User, courier.user_id)
    # What the BAN answers for the address: a precise point inside the express zone.
    db.session.add(
        GeocodeCache(
            query=normalise_query(address_query(STREET, POSTCODE, marmande.name)),
            latitude=44.503,
            longitude=0.158,
            label=f"{STREET} {POSTCODE} {marmande.name}",
            citycode=marmande.insee_code,
            precise=True,
        )
    )
    db.session.commit()
    assert courier_user is not None

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

    # 1. The resident fills the basket, gives the address, chooses express and a slot.
    customer = new_page()
    log_in(customer, resident.email)
    customer.goto(f"{live_server}/boutiques/{shop.slug}")
    customer.get_by_role("link", name=PRODUCT).first.click()
    customer.locator("form.variant button[type=submit]").first.click()
    customer.wait_for_load_state()
    customer.goto(f"{live_server}/panier")
    customer.get_by_role("link", name="Passer la commande").click()
    customer.get_by_label("Téléphone").fill("06 12 34 56 78")
    customer.get_by_label("Numéro et rue").fill(STREET)
    customer.get_by_label("Code postal").fill(POSTCODE)
    customer.get_by_label("Commune").select_option(label=marmande.name)
    customer.get_by_role("button", name="Voir les livraisons possibles").click()
    customer.wait_for_load_state()
    express = customer.get_by_role("radio", name=re.compile(r"^Livraison express — 5,90"))
    express.check()
    assert not customer.locator("#approximate-notice").count()  # a precise address
    slots = customer.locator(f"input[name=slot-{shop.id}]")
    assert slots.count() >= 1
    slots.first.check()
    chosen = datetime.fromisoformat(slots.first.get_attribute("value") or "")
    assert chosen > datetime.now(UTC)
    customer.get_by_role("button", name="Continuer vers le paiement").click()
    customer.wait_for_url(re.compile(r".*/paiement$"))
    card_inputs = customer.locator("#card-element input")
    for index, value in enumerate(["4242424242424242", "12", "34", "123", "47200"]):
        card_inputs.nth(index).fill(value)
    customer.get_by_role("button", name=re.compile("Payer")).click()
    customer.wait_for_url(re.compile(r".*/commandes/[0-9a-f-]+$"))
    order_url = customer.url
    for _ in range(20):
        if "Paiement confirmé" in customer.locator("main").inner_text():
            break
        customer.wait_for_timeout(500)
        customer.reload()
    text = customer.locator("main").inner_text()
    assert "Paiement confirmé" in text
    assert "Livraison express" in text and STREET in text and "12,00" in text
    sub = db.session.scalars(select(SubOrder).where(SubOrder.shop_id == shop.id)).one()
    assert sub.fulfilment_method is FulfilmentMethod.EXPRESS
    assert sub.delivery_slot_start == chosen and sub.delivery_fee_cents == 590
    assert sub.delivery_approximate is False

    # 2. The shop accepts, prepares and marks it ready; its packing slip has the code.
    staff = new_page()
    log_in(staff, merchant.email)
    staff.goto(f"{live_server}/boutique/commandes/")
    for button in ("Accepter", "En préparation", "Prête"):
        staff.locator(f"#sub-{sub.id}").get_by_role("button", name=button).click()
        staff.wait_for_load_state()
    assert "Prête" in staff.locator(f"#sub-{sub.id} .status").inner_text()
    staff.locator(f"#sub-{sub.id}").get_by_role("link", name="Bon de préparation").click()
    staff.wait_for_load_state()
    pickup_code = staff.locator("dd.code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", pickup_code)

    # 3. The courier sees the job near them, accepts it and picks the parcel up.
    rider = new_page()
    log_in(rider, courier_user.email)
    rider.goto(f"{live_server}/livreur/")
    offer = rider.locator("article.job", has_text=SHOP_NAME)
    assert "proposée pour vous" in offer.inner_text()  # dispatch offered it to them
    offer.get_by_role("button", name="Accepter").click()
    rider.wait_for_load_state()
    assert "Course acceptée" in rider.locator("main").inner_text()
    job = db.session.scalars(select(DeliveryJob).where(DeliveryJob.sub_order_id == sub.id)).one()
    in_hand = rider.locator(f"#job-{job.id}")
    in_hand.get_by_label("Code de retrait de la commande").fill(pickup_code)
    in_hand.get_by_role("button", name="Colis retiré").click()
    rider.wait_for_load_state()
    assert "Colis retiré : en route vers le client." in rider.locator("main").inner_text()

    # 4. At the door: a wrong code is refused, the resident's code delivers.
    customer.goto(order_url)
    tracking = customer.locator(f"#tracking-{sub.id}")
    assert "En cours de livraison" in tracking.inner_text()
    delivery_code = tracking.locator(".delivery-code").inner_text().strip()
    in_hand = rider.locator(f"#job-{job.id}")
    wrong = "000000" if delivery_code != "000000" else "111111"
    in_hand.get_by_label("Code de livraison donné par le client").fill(wrong)
    in_hand.get_by_role("button", name="Livré", exact=True).click()
    rider.wait_for_load_state()
    assert "Ce n'est pas le code de livraison du client." in rider.locator("main").inner_text()
    in_hand = rider.locator(f"#job-{job.id}")
    in_hand.get_by_label("Code de livraison donné par le client").fill(delivery_code)
    in_hand.get_by_role("button", name="Livré", exact=True).click()
    rider.wait_for_load_state()
    assert "Livraison confirmée. Merci !" in rider.locator("main").inner_text()

    # 5. The resident's order page says it is delivered.
    customer.reload()
    section = customer.locator(f"#sub-{sub.id}")
    assert section.locator("h2 .status").inner_text().strip() == "Livrée"
    assert not section.locator(".delivery-code").count()  # the code is spent
    db.session.expire_all()
    assert db.session.get(SubOrder, sub.id).status is SubOrderStatus.DELIVERED
    assert db.session.get(DeliveryJob, job.id).status is JobStatus.DELIVERED
