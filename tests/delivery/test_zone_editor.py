"""The collectivité's express zone editor (/collectivite/zones): staff only, CSRF,
communes chosen by checkbox, GeoJSON imported (file or pasted) and refused with a
reason when it is not a usable zone.

The `delivery_zones` blueprint is registered by `delivery.init_app`; until it is,
these tests skip."""

from __future__ import annotations

import html
import io
import json

import pytest

from delivery.operations import express_zone, point_in_zone
from marketplace.extensions import db
from marketplace.models import Role
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import csrf_token, login, main_text

from .zone_helpers import CENTRE, EAST, insee, make_territory, square


@pytest.fixture
def territory(app):
    territory = make_territory()
    db.session.commit()
    return territory


@pytest.fixture
def page(territory) -> str:
    return f"/collectivite/zones/{territory.slug}"


@pytest.fixture
def staff(client, territory):
    agent = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    login(client, agent.email, DEFAULT_PASSWORD)
    return agent


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.MERCHANT, Role.COURIER])
def test_only_collectivite_staff(client, territory, page, role):
    user = UserFactory(roles=[role])
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get(page).status_code == 403
    token = csrf_token(client, "/compte/")
    response = client.post(f"{page}/communes", data={"csrf_token": token, "communes": []})
    assert response.status_code == 403


def test_index_goes_to_the_only_territory(client, staff, page):
    response = client.get("/collectivite/zones/")
    assert response.status_code == 302 and response.headers["Location"].endswith(page)


def test_unknown_territory(client, staff):
    assert client.get("/collectivite/zones/nulle-part").status_code == 404


def test_staff_sees_and_edits_the_communes(client, staff, territory, page):
    text = main_text(client.get(page).text)
    assert "Marmande-test" in text and "Est-test" in text
    assert "couvre les communes cochées" in text
    east = insee(territory, "Est-test")
    centre = insee(territory, "Marmande-test")
    response = client.post(
        f"{page}/communes",
        data={"csrf_token": csrf_token(client, page), "communes": [centre, east]},
    )
    assert response.status_code == 302
    assert "Zone express enregistrée : 2 commune(s)." in client.get(page).text
    db.session.expire_all()
    assert express_zone(territory).communes == sorted([centre, east])
    assert point_in_zone(territory, *EAST)


def test_communes_need_csrf(client, staff, territory, page):
    assert client.post(f"{page}/communes", data={"communes": []}).status_code == 400
    db.session.expire_all()
    assert express_zone(territory).communes == [insee(territory, "Marmande-test")]


def test_unknown_commune_is_refused(client, staff, territory, page):
    response = client.post(
        f"{page}/communes", data={"csrf_token": csrf_token(client, page), "communes": ["75056"]}
    )
    assert response.status_code == 400
    assert "Communes inconnues sur ce territoire : 75056." in response.text


def test_import_a_geojson_file_then_clear_it(client, staff, territory, page):
    feature = {"type": "Feature", "properties": {}, "geometry": square(*EAST, half=0.02)}
    response = client.post(
        f"{page}/import",
        data={
            "csrf_token": csrf_token(client, page),
            "file": (io.BytesIO(json.dumps(feature).encode()), "zone.geojson"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, main_text(response.text)
    text = main_text(client.get(page).text)
    assert "Contour importé : 5 sommets" in text and "contour importé" in text
    db.session.expire_all()
    assert point_in_zone(territory, *EAST) and not point_in_zone(territory, *CENTRE)

    response = client.post(f"{page}/effacer-contour", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert point_in_zone(territory, *CENTRE) and not point_in_zone(territory, *EAST)


def test_a_pasted_contour_as_long_as_a_file_is_imported(client, staff, territory, page):
    # Over Flask's 500 kB for a text field, under the editor's own 1 MB.
    polygon = json.dumps(square(*EAST, half=0.02))
    padded = polygon[:1] + " " * 700_000 + polygon[1:]
    response = client.post(
        f"{page}/import",
        data={"csrf_token": csrf_token(client, page), "geojson": padded},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, main_text(response.text)
    db.session.expire_all()
    assert point_in_zone(territory, *EAST)
    too_long = polygon[:1] + " " * 1_010_000 + polygon[1:]
    response = client.post(
        f"{page}/import",
        data={"csrf_token": csrf_token(client, page), "geojson": too_long},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Le fichier dépasse 1 Mo : simplifiez le contour." in html.unescape(
        main_text(response.text)
    )


@pytest.mark.parametrize(
    ("geojson", "message"),
    [
        ("", "Choisissez un fichier GeoJSON ou collez son contenu."),
        ('{"type": "Point", "coordinates": [0.16, 44.5]}', "pas « Point »"),
        (json.dumps(square(48.85, 2.35)), "La zone est en dehors du territoire."),
        ("pas du json", "Ce fichier n'est pas du JSON valide."),
    ],
)
def test_bad_import_is_refused_with_a_reason(client, staff, territory, page, geojson, message):
    response = client.post(
        f"{page}/import", data={"csrf_token": csrf_token(client, page), "geojson": geojson}
    )
    assert response.status_code == 400
    assert message in html.unescape(main_text(response.text))
    assert 'aria-invalid="true"' in response.text or not geojson
    db.session.expire_all()
    assert express_zone(territory).polygon is None
