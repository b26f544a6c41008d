"""Geocoding against a real addok server (the software behind the BAN's API) loaded
with a sample of the demo territory: geopy's BANFrance client pointed at it as a
collectivité would point it at its own Addok, the cache, the rate limit, the
fallbacks to the commune's point, and what residents and merchants see on the pages.

The sample (tests/fixtures/addok/sample.ndjson) has streets with house numbers in
Marmande (47157, 47200) and Tonneins (47310, 47400), both towns, and one address
outside the territory (Bordeaux). The communes below have the towns' points of the
sample as their reference points.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from delivery.operations import set_zone_communes
from marketplace import geo
from marketplace.extensions import db
from marketplace.models import FulfilmentMethod, Role
from merchants.models import Shop
from shop.models import Order, SubOrder
from tests.delivery.zone_helpers import square
from tests.factories import (
    DEFAULT_PASSWORD,
    CommuneFactory,
    ShopFactory,
    TerritoryFactory,
    TradeFactory,
    UserFactory,
    VariantFactory,
)
from tests.helpers import csrf_token, login, main_text, unique_email
from tests.integration.addok_fixtures import AddokServer
from tests.merchants.test_onboarding import new_siret
from tests.shop.test_order_flow import add_to_basket

pytestmark = pytest.mark.integration

MARMANDE = (44.5004, 0.1653)  # the sample's town point, the commune's reference point
TONNEINS = (44.3906, 0.3092)
APPROXIMATE_NOTICE = "localisée approximativement"


@pytest.fixture
def communes(app: Flask) -> dict[str, Any]:
    territory = TerritoryFactory(name="Val de Garonne (test)")
    marmande = CommuneFactory(
        territory=territory,
        insee_code="47157",
        name="Marmande",
        slug="marmande",
        postcodes=["47200"],
        latitude=MARMANDE[0],
        longitude=MARMANDE[1],
        outline=square(*MARMANDE),
    )
    tonneins = CommuneFactory(
        territory=territory,
        insee_code="47310",
        name="Tonneins",
        slug="tonneins",
        postcodes=["47400"],
        latitude=TONNEINS[0],
        longitude=TONNEINS[1],
        outline=square(*TONNEINS),
    )
    db.session.flush()
    db.session.expire(territory, ["communes"])
    return {"territory": territory, "Marmande": marmande, "Tonneins": tonneins}


@contextmanager
def geocoder_at(app: Flask, domain: str, **settings: Any) -> Iterator[None]:
    """The app's geocoder pointed at `domain` over http, as a collectivité's own Addok."""
    keys = ("GEOCODER_ENABLED", "GEOCODER_DOMAIN", "GEOCODER_SCHEME", "GEOCODER_TIMEOUT")
    saved = {key: app.config.get(key) for key in (*keys, "GEOCODER_MIN_DELAY")}
    app.config.update(
        GEOCODER_ENABLED=True,
        GEOCODER_DOMAIN=domain,
        GEOCODER_SCHEME="http",
        GEOCODER_TIMEOUT=2,
        GEOCODER_MIN_DELAY=0,
    )
    app.config.update(settings)
    try:
        yield
    finally:
        app.config.update(saved)


@pytest.fixture
def addok_geocoder(app: Flask, addok_server: AddokServer) -> Iterator[AddokServer]:
    with geocoder_at(app, addok_server.domain):
        yield addok_server


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def cache_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(geo.GeocodeCache)) or 0


@pytest.mark.parametrize(
    ("street", "commune", "postcode", "label", "point"),
    [
        ("12 rue Léopold Faye", "Marmande", "47200", "12 Rue Léopold Faye", (44.49987, 0.16602)),
        ("8 boulevard de Maré", "Marmande", "47200", "8 Boulevard de Maré", (44.50201, 0.16311)),
        (
            "9 bis rue de la Libération",
            "Marmande",
            "47200",
            "9bis Rue de la Libération",
            (44.49811, 0.16705),
        ),
        ("21 cours de l'Yser", "Tonneins", "47400", "21 Cours de l'Yser", (44.38987, 0.31112)),
        (
            "4 rue de la République",
            "Tonneins",
            "47400",
            "4 Rue de la République",
            (44.39087, 0.30815),
        ),
    ],
)
def test_sample_addresses_are_found_at_their_house_number(
    addok_geocoder, communes, street, commune, postcode, label, point
):
    found = geo.locate(street, postcode, communes[commune])
    assert found == geo.GeoPoint(*point, False, f"{label} {postcode} {commune}")
    assert cache_rows() == 1


def test_typing_mistakes_are_tolerated(addok_geocoder, communes):
    found = geo.locate("12 rue Leopol Fay", "47200", communes["Marmande"])
    assert (found.latitude, found.longitude, found.approximate) == (44.49987, 0.16602, False)
    assert found.label == "12 Rue Léopold Faye 47200 Marmande"
    abbreviated = geo.locate("8 bd de Mare", "47200", communes["Marmande"])
    assert (abbreviated.latitude, abbreviated.longitude) == (44.50201, 0.16311)


@pytest.mark.parametrize(
    ("street", "commune", "postcode", "point"),
    [
        ("999 chemin des Inconnus", "Marmande", "47200", MARMANDE),
        # addok's best answer is Cours de l'Yser, scored 0.34: not trusted.
        ("999 chemin des Inconnus", "Tonneins", "47400", TONNEINS),
        ("### !!!", "Marmande", "47200", MARMANDE),  # only the town: its point
    ],
)
def test_unknown_or_unparseable_address_is_the_communes_point(
    addok_geocoder, communes, street, commune, postcode, point
):
    found = geo.locate(street, postcode, communes[commune])
    assert found.approximate is True
    assert (found.latitude, found.longitude) == point


def test_the_logs_hold_no_address(app, communes, caplog):
    caplog.set_level(logging.DEBUG, logger="marketplace.geo")
    with geocoder_at(app, "127.0.0.1:9"):  # nothing listens: connection refused
        assert geo.locate("7 rue Secrète", "47200", communes["Marmande"]).approximate
    assert "geocoding failed (GeocoderUnavailable)" in caplog.text
    assert "Secr" not in caplog.text and "secr" not in caplog.text


def test_address_outside_the_territory_is_not_trusted(addok_geocoder, communes):
    # addok finds it, in Bordeaux…
    answer = geo.geocode("10 cours de l'Intendance, 33000 Bordeaux")
    assert answer is not None and answer.citycode == "33063"
    assert (answer.latitude, answer.longitude) == (44.84195, -0.5754)
    # …so typed as an address of Marmande it is not placed there: the commune's point.
    found = geo.locate("10 cours de l'Intendance", "47200", communes["Marmande"])
    assert found == geo.GeoPoint(*MARMANDE, True, "Marmande")


def test_a_street_of_another_commune_of_the_territory_is_not_trusted(addok_geocoder, communes):
    found = geo.locate("21 cours de l'Yser", "47200", communes["Marmande"])
    assert found.approximate and (found.latitude, found.longitude) == MARMANDE


def test_the_cache_answers_when_the_server_is_gone(app, addok, communes):
    server = addok.server().start()
    try:
        with geocoder_at(app, server.domain):
            first = geo.locate("12 rue Léopold Faye", "47200", communes["Marmande"])
            assert server.searches() == 1
            server.stop()
            # Typed differently, same normalised query: answered from the database.
            again = geo.locate(" 12 Rue LÉOPOLD  Faye", "47200", communes["Marmande"])
    finally:
        server.stop()
    assert again == first and again.approximate is False
    assert server.searches() == 1
    assert cache_rows() == 1
    assert db.session.get(geo.GeocodeCache, "12 rue leopold faye 47200 marmande") is not None


def test_calls_are_rate_limited(app, addok_server, communes):
    streets = ["1 rue Léopold Faye", "24 rue Léopold Faye", "3 boulevard de Maré"]
    with geocoder_at(app, addok_server.domain, GEOCODER_MIN_DELAY=0.3):
        started = time.monotonic()
        points = [geo.locate(street, "47200", communes["Marmande"]) for street in streets]
        elapsed = time.monotonic() - started
    assert not any(point.approximate for point in points)
    assert elapsed >= 0.6  # three calls, at least 0.3 s apart


def test_a_geocoder_that_never_answers_falls_back_quickly(app, silent_server, communes):
    with geocoder_at(app, silent_server, GEOCODER_TIMEOUT=0.5):
        started = time.monotonic()
        found = geo.locate("12 rue Léopold Faye", "47200", communes["Marmande"])
        elapsed = time.monotonic() - started
    assert found == geo.GeoPoint(*MARMANDE, True, "Marmande")
    assert elapsed < 1.2  # one timeout: geopy retried twice (1.5 s) before the fix
    assert cache_rows() == 0  # a failure is not remembered


# Through the pages


def _signup(client, commune, street: str, postcode: str):
    trade = TradeFactory()
    db.session.commit()
    data = {
        "name": "Librairie Léopold",
        "siret": new_siret(),
        "trade_id": trade.id,
        "street": street,
        "postcode": postcode,
        "commune_id": commune.id,
        "phone": "0553000000",
        "contact_email": "librairie@example.org",
        "first_name": "Jules",
        "last_name": "Roux",
        "email": unique_email(),
        "password": DEFAULT_PASSWORD,
        "confirm": DEFAULT_PASSWORD,
        "accept_terms": "y",
    }
    return client.post(
        "/boutique/inscription",
        data={**data, "csrf_token": csrf_token(client, "/boutique/inscription")},
    )


def _shops() -> int:
    return db.session.scalar(select(func.count()).select_from(Shop)) or 0


def test_shop_signup_is_pinned_at_its_address(addok_geocoder, communes, client):
    before = addok_geocoder.searches()
    response = _signup(client, communes["Marmande"], "12 rue Léopold Faye", "47200")
    assert response.status_code == 302, main_text(response.text)
    shop = db.session.scalars(select(Shop).where(Shop.name == "Librairie Léopold")).one()
    assert (shop.latitude, shop.longitude) == (44.49987, 0.16602)
    assert "approximative" not in client.get(response.headers["Location"]).text
    assert addok_geocoder.searches() == before + 1


def test_shop_signup_outside_the_territory_is_refused(addok_geocoder, communes, client):
    before = addok_geocoder.searches()
    response = _signup(client, communes["Marmande"], "10 cours de l'Intendance", "33000")
    assert response.status_code == 422
    assert "Ce code postal n&#39;est pas celui de Marmande (47200)" in response.text
    assert _shops() == 0
    assert addok_geocoder.searches() == before  # refused before asking the geocoder


@pytest.fixture
def basket(app, communes, client):
    """A resident logged in with a shop of Marmande's in the basket; the checkout's
    hidden fields and contact."""
    set_zone_communes(communes["territory"], ["47157"])
    shop = ShopFactory(
        commune=communes["Marmande"],
        latitude=MARMANDE[0],
        longitude=MARMANDE[1],
        fulfilment_methods=[m.value for m in FulfilmentMethod],
        delivery_radius_km=3,
        delivery_fee_cents=300,
    )
    variant = VariantFactory(product__shop=shop, price_cents=1000, weight_grams=800)
    resident = UserFactory(roles=[Role.RESIDENT])
    db.session.commit()
    login(client, resident.email, DEFAULT_PASSWORD)
    add_to_basket(client, "/panier", variant.id, 1)
    page = client.get("/commande")
    assert page.status_code == 200
    fields = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]+)"', page.text).group(1)
        for name in ("csrf_token", "checkout_key")
    }
    contact = {"name": "Camille Martin", "email": "camille@example.org", "phone": "0612345678"}
    return {"shop": shop, "data": {**fields, **contact}}


def _checkout(client, basket, commune, street: str, postcode: str, method="merchant_delivery"):
    """Check the address on the checkout page, then place the order with `method`."""
    shop = basket["shop"]
    data = {**basket["data"], "street": street, "postcode": postcode, "commune": str(commune.id)}
    checked = client.post("/commande", data={**data, "action": "check"})
    placed = client.post("/commande", data={**data, f"fulfilment-{shop.id}": method})
    return checked, placed


def test_checkout_delivers_to_the_geocoded_address(addok_geocoder, communes, basket, client):
    checked, placed = _checkout(
        client, basket, communes["Marmande"], "12 rue Léopold Faye", "47200"
    )
    assert checked.status_code == 200
    assert "Livraison par la boutique — 3,00" in " ".join(checked.text.split())
    assert APPROXIMATE_NOTICE not in checked.text
    assert placed.status_code == 302, main_text(placed.text)
    sub = db.session.scalars(select(SubOrder)).one()
    assert (sub.delivery_latitude, sub.delivery_longitude) == (44.49987, 0.16602)
    assert sub.delivery_approximate is False


def test_checkout_when_the_geocoder_times_out(app, silent_server, communes, basket, client):
    with geocoder_at(app, silent_server, GEOCODER_TIMEOUT=0.5):
        checked, placed = _checkout(
            client, basket, communes["Marmande"], "12 rue Léopold Faye", "47200"
        )
    # The resident is told, and the order is placed all the same.
    assert checked.status_code == 200
    assert APPROXIMATE_NOTICE in checked.text
    assert "la disponibilité des livraisons est indicative" in checked.text
    assert placed.status_code == 302, main_text(placed.text)
    sub = db.session.scalars(select(SubOrder)).one()
    assert (sub.delivery_latitude, sub.delivery_longitude) == MARMANDE
    assert sub.delivery_approximate is True


def test_checkout_to_an_unknown_street_says_it_is_approximate(
    addok_geocoder, communes, basket, client
):
    checked, placed = _checkout(
        client, basket, communes["Tonneins"], "999 chemin des Inconnus", "47400", "standard"
    )
    assert APPROXIMATE_NOTICE in checked.text, main_text(checked.text)
    assert placed.status_code == 302, main_text(placed.text)
    sub = db.session.scalars(select(SubOrder)).one()
    assert sub.delivery_approximate is True
    assert (sub.delivery_latitude, sub.delivery_longitude) == TONNEINS


def test_checkout_to_an_address_outside_the_territory_is_refused(
    addok_geocoder, communes, basket, client
):
    before = addok_geocoder.searches()
    checked, placed = _checkout(
        client, basket, communes["Marmande"], "10 cours de l'Intendance", "33000"
    )
    message = "Ce code postal n&#39;est pas celui de Marmande."
    assert message in checked.text  # on checking the deliveries
    assert placed.status_code == 422 and message in placed.text
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert addok_geocoder.searches() == before
