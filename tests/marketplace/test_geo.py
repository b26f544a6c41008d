"""Geocoding against a local HTTP server that answers like the BAN API: geopy's real
BANFrance client, the timeout fallback to the commune's point, and the cache."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from marketplace import geo
from marketplace.extensions import db
from tests.factories import CommuneFactory


class FakeBAN:
    """A tiny BAN: GET /search/?q=… → a GeoJSON FeatureCollection."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.delay = 0.0
        self.citycode = "47157"
        self.kind = "housenumber"
        self.found = True
        ban = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") != "/search":
                    self.send_error(404)
                    return
                query = parse_qs(parts.query).get("q", [""])[0]
                ban.queries.append(query)
                if ban.delay:
                    time.sleep(ban.delay)
                body = json.dumps(ban.answer(query)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def answer(self, query: str) -> dict[str, Any]:
        features = []
        if self.found:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [0.171234, 44.498765]},
                    "properties": {
                        "label": "12 Rue de la Paix 47200 Marmande",
                        "score": 0.93,
                        "housenumber": "12",
                        "type": self.kind,
                        "name": "12 Rue de la Paix",
                        "postcode": "47200",
                        "citycode": self.citycode,
                        "city": "Marmande",
                        "context": "47, Lot-et-Garonne, Nouvelle-Aquitaine",
                    },
                }
            )
        return {
            "type": "FeatureCollection",
            "version": "draft",
            "features": features,
            "attribution": "BAN",
            "licence": "ETALAB-2.0",
            "query": query,
            "limit": 1,
        }


@pytest.fixture
def ban(app) -> Iterator[FakeBAN]:
    server = FakeBAN()
    server.thread.start()
    saved = {
        k: app.config.get(k)
        for k in (
            "GEOCODER_ENABLED",
            "GEOCODER_DOMAIN",
            "GEOCODER_SCHEME",
            "GEOCODER_TIMEOUT",
            "GEOCODER_MIN_DELAY",
        )
    }
    app.config.update(
        GEOCODER_ENABLED=True,
        GEOCODER_DOMAIN=server.domain,
        GEOCODER_SCHEME="http",
        GEOCODER_TIMEOUT=0.5,
        GEOCODER_MIN_DELAY=0,
    )
    try:
        yield server
    finally:
        app.config.update(saved)
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def marmande(app):
    return CommuneFactory(
        name="Marmande", insee_code="47157", postcodes=["47200"], latitude=44.5, longitude=0.165
    )


def cache_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(geo.GeocodeCache)) or 0


def test_address_found_by_the_ban(ban, marmande):
    point = geo.locate("12 rue de la Paix", "47200", marmande)
    assert point == geo.GeoPoint(44.498765, 0.171234, False, "12 Rue de la Paix 47200 Marmande")
    assert ban.queries == ["12 rue de la Paix, 47200 Marmande"]


def test_cache_hit_makes_no_second_http_call(ban, marmande):
    first = geo.locate("12 rue de la Paix", "47200", marmande)
    # Same address typed differently: the normalised query is the same key.
    again = geo.locate("12  Rue de la PAIX ", "47200", marmande)
    assert again.latitude == first.latitude and again.longitude == first.longitude
    assert len(ban.queries) == 1
    assert cache_rows() == 1
    assert db.session.get(geo.GeocodeCache, "12 rue de la paix 47200 marmande") is not None


def test_timeout_falls_back_to_the_commune_point(ban, marmande):
    ban.delay = 2.0  # longer than GEOCODER_TIMEOUT
    started = time.monotonic()
    point = geo.locate("12 rue de la Paix", "47200", marmande)
    assert time.monotonic() - started < 1.8  # no retries, no waiting for the server
    assert point == geo.GeoPoint(44.5, 0.165, True, "Marmande")
    assert cache_rows() == 0  # a failure is not remembered


def test_nothing_found_falls_back(ban, marmande):
    ban.found = False
    assert geo.locate("999 chemin inconnu", "47200", marmande).approximate is True
    assert cache_rows() == 0


def test_result_in_another_commune_is_not_trusted(ban, marmande):
    ban.citycode = "47310"  # Tonneins
    point = geo.locate("12 rue de la Paix", "47200", marmande)
    assert point.approximate and (point.latitude, point.longitude) == (44.5, 0.165)


def test_only_the_town_found_is_approximate(ban, marmande):
    ban.kind = "municipality"
    point = geo.locate("rue qui n'existe pas", "47200", marmande)
    assert point.approximate and point.latitude == 44.498765


def test_disabled_geocoder_makes_no_call(ban, marmande, app):
    app.config["GEOCODER_ENABLED"] = False
    assert geo.locate("12 rue de la Paix", "47200", marmande).approximate
    assert ban.queries == []


def test_defaults_are_the_embedded_mode(app):
    assert not app.config.get("GEOCODER_ENABLED")  # no internet in tests or embedded
    assert geo.DEFAULT_DOMAIN == "api-adresse.data.gouv.fr"
    assert geo.DEFAULT_TIMEOUT == 3.0


def test_signup_through_the_page_uses_the_geocoder(ban, marmande, client):
    """The whole path: the sign-up page, geopy, the local BAN, the cache."""
    from tests.factories import TradeFactory
    from tests.helpers import csrf_token, unique_email
    from tests.merchants.test_onboarding import new_siret

    trade = TradeFactory()
    db.session.commit()
    data = {
        "name": "Librairie des Cordeliers",
        "siret": new_siret(),
        "trade_id": trade.id,
        "street": "12 rue de la Paix",
        "postcode": "47200",
        "commune_id": marmande.id,
        "phone": "0553000000",
        "contact_email": "librairie@example.org",
        "first_name": "Jules",
        "last_name": "Roux",
        "email": unique_email(),
        "password": "correct horse battery staple",
        "confirm": "correct horse battery staple",
        "accept_terms": "y",
    }
    response = client.post(
        "/boutique/inscription",
        data={**data, "csrf_token": csrf_token(client, "/boutique/inscription")},
    )
    assert response.status_code == 302
    from merchants.models import Shop

    shop = db.session.scalars(select(Shop).where(Shop.name == data["name"])).one()
    assert (shop.latitude, shop.longitude) == (44.498765, 0.171234)
    assert "approximative" not in client.get(response.headers["Location"]).text
    assert len(ban.queries) == 1


def test_signup_when_the_geocoder_times_out(ban, marmande, client):
    from merchants.models import Shop
    from tests.factories import TradeFactory
    from tests.helpers import csrf_token, unique_email
    from tests.merchants.test_onboarding import new_siret

    ban.delay = 2.0
    trade = TradeFactory()
    db.session.commit()
    data = {
        "name": "Le Fournil",
        "siret": new_siret(),
        "trade_id": trade.id,
        "street": "3 place du Marché",
        "postcode": "47200",
        "commune_id": marmande.id,
        "phone": "0553000001",
        "contact_email": "fournil@example.org",
        "first_name": "Nina",
        "last_name": "Blanc",
        "email": unique_email(),
        "password": "correct horse battery staple",
        "confirm": "correct horse battery staple",
        "accept_terms": "y",
    }
    response = client.post(
        "/boutique/inscription",
        data={**data, "csrf_token": csrf_token(client, "/boutique/inscription")},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "approximative" in response.text
    shop = db.session.scalars(select(Shop).where(Shop.name == "Le Fournil")).one()
    assert (shop.latitude, shop.longitude) == (44.5, 0.165)


def test_normalise_query_and_distance():
    assert geo.normalise_query("  Place  de l'Église, 47200 MARMANDE ") == (
        "place de l eglise 47200 marmande"
    )
    # Marmande → Tonneins is about 16 km as the crow flies.
    assert 14 < geo.distance_km(44.5, 0.165, 44.391, 0.309) < 18
