"""Zones from the communes' outlines: point in zone, the drawn polygon, and the
GeoJSON import's checks (type, validity, inside the territory, size)."""

from __future__ import annotations

import json

import pytest

from delivery.operations import (
    ZoneError,
    clear_zone_polygon,
    express_zone,
    parse_zone_geojson,
    point_in_territory,
    point_in_zone,
    set_zone_communes,
    set_zone_polygon,
)
from delivery.operations.zones import MAX_VERTICES

from .zone_helpers import CENTRE, EAST, FAR, WEST, insee, make_territory, square


@pytest.fixture
def territory(app):
    return make_territory()


def test_point_in_the_communes_zone(territory):
    assert point_in_zone(territory, *CENTRE)
    assert point_in_zone(territory, 44.549, 0.209)  # inside the square, near a corner
    assert not point_in_zone(territory, *EAST)
    assert not point_in_zone(territory, *FAR)
    set_zone_communes(territory, [insee(territory, "Marmande-test"), insee(territory, "Est-test")])
    assert point_in_zone(territory, *EAST)
    assert point_in_zone(territory, 44.5, 0.21)  # on the shared edge
    assert not point_in_zone(territory, *WEST)


def test_point_in_territory(territory):
    assert point_in_territory(territory, *WEST)
    assert not point_in_territory(territory, *FAR)


def test_no_zone_means_no_point_inside(app):
    territory = make_territory(express=[])
    assert not point_in_zone(territory, *CENTRE)


def test_communes_of_another_territory_are_refused(territory):
    with pytest.raises(ZoneError, match="Communes inconnues"):
        set_zone_communes(territory, ["75056"])


def test_drawn_polygon_overrides_the_communes(territory):
    # A small square around the east commune's centre.
    parsed = parse_zone_geojson(json.dumps(square(*EAST, half=0.01)), territory)
    assert parsed.vertices == 5
    assert 3 < parsed.area_km2 < 4  # 2.2 km × 1.6 km
    set_zone_polygon(territory, parsed)
    assert point_in_zone(territory, *EAST)
    assert not point_in_zone(territory, *CENTRE)
    clear_zone_polygon(territory)
    assert point_in_zone(territory, *CENTRE)
    zone = express_zone(territory)
    assert zone is not None and zone.version >= 3


def test_feature_and_collection_of_one_are_accepted(territory):
    geometry = square(*CENTRE, half=0.02)
    feature = {"type": "Feature", "properties": {}, "geometry": geometry}
    assert parse_zone_geojson(json.dumps(feature), territory).geometry["type"] == "Polygon"
    collection = {"type": "FeatureCollection", "features": [feature]}
    assert parse_zone_geojson(json.dumps(collection), territory).vertices == 5
    multi = {"type": "MultiPolygon", "coordinates": [geometry["coordinates"]]}
    assert parse_zone_geojson(json.dumps(multi), territory).geometry["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "pas du JSON valide"),
        ("[1, 2]", "objet GeoJSON"),
        (json.dumps({"type": "Point", "coordinates": [0.16, 44.5]}), "pas « Point »"),
        (
            json.dumps({"type": "LineString", "coordinates": [[0.1, 44.5], [0.2, 44.5]]}),
            "pas « LineString »",
        ),
        (json.dumps({"type": "FeatureCollection", "features": []}), "exactement un"),
        (json.dumps({"type": "Polygon", "coordinates": "x"}), "illisibles"),
        (json.dumps({"type": "Polygon", "coordinates": []}), "vide"),
        # A bow tie: the outline crosses itself.
        (
            json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[0.14, 44.48], [0.18, 44.52], [0.18, 44.48], [0.14, 44.52], [0.14, 44.48]]
                    ],
                }
            ),
            "n'est pas valide",
        ),
        # Latitude and longitude swapped: far away (in the Gulf of Guinea).
        (
            json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [[[y, x] for x, y in square(*CENTRE)["coordinates"][0]]],
                }
            ),
            "en dehors du territoire",
        ),
        (json.dumps(square(*FAR)), "en dehors du territoire"),
        (json.dumps(square(*CENTRE, half=0.3)), "déborde"),
        (
            json.dumps(
                {"type": "Polygon", "coordinates": [[[500, 44], [501, 44], [501, 45], [500, 44]]]}
            ),
            "en degrés",
        ),
    ],
)
def test_bad_geojson_is_refused_with_a_reason(territory, text, message):
    with pytest.raises(ZoneError) as error:
        parse_zone_geojson(text, territory)
    assert message in error.value.message


def test_size_limits(territory):
    import math

    n = MAX_VERTICES + 10
    ring = [
        [0.16 + 0.02 * math.cos(2 * math.pi * i / n), 44.5 + 0.02 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    ring.append(ring[0])
    with pytest.raises(ZoneError, match="sommets"):
        parse_zone_geojson(json.dumps({"type": "Polygon", "coordinates": [ring]}), territory)
    with pytest.raises(ZoneError, match="1 Mo"):
        parse_zone_geojson(" " * 1_000_001, territory)


def test_altitudes_are_dropped(territory):
    ring = [[x, y, 42.0] for x, y in square(*CENTRE, half=0.02)["coordinates"][0]]
    parsed = parse_zone_geojson(json.dumps({"type": "Polygon", "coordinates": [ring]}), territory)
    assert all(len(p) == 2 for p in parsed.geometry["coordinates"][0])
