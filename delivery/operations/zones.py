"""Zones from the communes' outlines (shapely): the territory and its express zone.

Coordinates are GeoJSON's (longitude, latitude); the functions take (lat, lon) like
the rest of the code. Geometries are cached per process, keyed by what they are made
of, so the basket does not rebuild a union of outlines on every page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shapely import force_2d, make_valid
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import explain_validity
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Commune, Territory, utcnow

from ..models import DeliveryZone, ZoneKind
from .config import translate as _

MAX_GEOJSON_BYTES = 1_000_000
MAX_VERTICES = 20_000
# How far a drawn zone may reach beyond the territory's outline (degrees, ≈ 2 km).
TERRITORY_MARGIN_DEG = 0.02

_cache: dict[tuple[Any, ...], BaseGeometry | None] = {}
_CACHE_SIZE = 256


class ZoneError(ValueError):
    """A GeoJSON zone that cannot be used; the message is for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _cached(key: tuple[Any, ...], build: Any) -> BaseGeometry | None:
    if key not in _cache:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = build()
    return _cache[key]


def _outline_shape(outline: dict[str, Any] | None) -> BaseGeometry | None:
    if not outline:
        return None
    try:
        geometry = shape(
            outline.get("geometry", outline) if outline.get("type") == "Feature" else outline
        )
    except (ShapelyError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if geometry.is_empty:
        return None
    return geometry if geometry.is_valid else make_valid(geometry)


def _union(outlines: list[dict[str, Any] | None]) -> BaseGeometry | None:
    shapes = [s for s in (_outline_shape(o) for o in outlines) if s is not None]
    return unary_union(shapes) if shapes else None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def territory_shape(territory: Territory) -> BaseGeometry | None:
    """The union of the territory's commune outlines, or None when none is known."""
    outlines = [c.outline for c in territory.communes]
    return _cached(("territory", territory.id, _key(outlines)), lambda: _union(outlines))


def express_zone(territory: Territory) -> DeliveryZone | None:
    return db.session.scalar(
        select(DeliveryZone).where(
            DeliveryZone.territory_id == territory.id, DeliveryZone.kind == ZoneKind.EXPRESS
        )
    )


def zone_shape(zone: DeliveryZone) -> BaseGeometry | None:
    """The zone's area: its drawn polygon, else the union of its communes' outlines."""
    if zone.polygon:
        polygon = zone.polygon
        return _cached(("polygon", zone.id, _key(polygon)), lambda: _outline_shape(polygon))
    if not zone.communes:
        return None
    outlines = list(
        db.session.scalars(
            select(Commune.outline)
            .where(Commune.territory_id == zone.territory_id)
            .where(Commune.insee_code.in_(zone.communes))
            .order_by(Commune.insee_code)
        )
    )
    return _cached(("communes", zone.id, _key(outlines)), lambda: _union(outlines))


def _contains(geometry: BaseGeometry, lat: float, lon: float) -> bool:
    return bool(geometry.covers(Point(lon, lat)))


def point_in_zone(territory: Territory, lat: float, lon: float) -> bool:
    """Whether (lat, lon) is inside the territory's express zone (its edge included)."""
    zone = express_zone(territory)
    geometry = zone_shape(zone) if zone is not None else None
    return geometry is not None and _contains(geometry, lat, lon)


def point_in_territory(territory: Territory, lat: float, lon: float) -> bool | None:
    """Whether (lat, lon) is inside the territory; None when no outline is known."""
    geometry = territory_shape(territory)
    return None if geometry is None else _contains(geometry, lat, lon)


# --- editing the express zone (collectivité staff) -----------------------------


def _zone_for_update(territory: Territory) -> DeliveryZone:
    zone = express_zone(territory)
    if zone is None:
        zone = DeliveryZone(territory_id=territory.id, kind=ZoneKind.EXPRESS, communes=[])
        db.session.add(zone)
    return zone


def _touch(zone: DeliveryZone) -> None:
    zone.version = (zone.version or 0) + 1
    zone.updated_at = utcnow()


def set_zone_communes(territory: Territory, insee_codes: list[str]) -> DeliveryZone:
    """Make the express zone the given communes of the territory (the drawn polygon
    is dropped). Codes of other territories are refused."""
    known = {c.insee_code for c in territory.communes}
    unknown = sorted(set(insee_codes) - known)
    if unknown:
        raise ZoneError(
            _("Communes inconnues sur ce territoire : %(codes)s.", codes=", ".join(unknown))
        )
    zone = _zone_for_update(territory)
    zone.communes = sorted(set(insee_codes))
    zone.polygon = None
    _touch(zone)
    db.session.flush()
    return zone


def clear_zone_polygon(territory: Territory) -> DeliveryZone:
    zone = _zone_for_update(territory)
    zone.polygon = None
    _touch(zone)
    db.session.flush()
    return zone


@dataclass(frozen=True)
class ParsedZone:
    geometry: dict[str, Any]  # GeoJSON geometry, as stored
    area_km2: float
    vertices: int


def _geometry_of(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ZoneError(_("Le fichier doit contenir un objet GeoJSON."))
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise ZoneError(
                _("La collection doit contenir exactement un élément (le contour de la zone).")
            )
        data = features[0]
        kind = data.get("type") if isinstance(data, dict) else None
    if kind == "Feature":
        data = data.get("geometry")
        kind = data.get("type") if isinstance(data, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise ZoneError(
            _(
                "La zone doit être un polygone (type Polygon ou MultiPolygon), pas « %(kind)s ».",
                kind=kind or "?",
            )
        )
    assert isinstance(data, dict)
    return data


def _count_vertices(geometry: BaseGeometry) -> int:
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    total = 0
    for polygon in polygons:
        assert isinstance(polygon, Polygon)
        total += len(polygon.exterior.coords) + sum(len(r.coords) for r in polygon.interiors)
    return total


def _area_km2(geometry: BaseGeometry) -> float:
    """Approximate area: degrees scaled at the zone's latitude (fine at a town's scale)."""
    import math

    lat = geometry.centroid.y
    return float(geometry.area * 111.32 * 111.32 * math.cos(math.radians(lat)))


def parse_zone_geojson(text: str | bytes, territory: Territory) -> ParsedZone:
    """Check an imported zone: GeoJSON, a valid Polygon or MultiPolygon in
    longitude/latitude, not too large, and inside (or just around) the territory."""
    if len(text) > MAX_GEOJSON_BYTES:
        raise ZoneError(_("Le fichier dépasse 1 Mo : simplifiez le contour."))
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ZoneError(_("Ce fichier n'est pas du JSON valide.")) from None
    raw = _geometry_of(data)
    try:
        geometry = shape(raw)
    except (ShapelyError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ZoneError(_("Les coordonnées du polygone sont illisibles.")) from None
    if geometry.is_empty:
        raise ZoneError(_("Le polygone est vide."))
    if geometry.has_z:
        geometry = force_2d(geometry)  # altitudes (GPS exports) are dropped
    vertices = _count_vertices(geometry)
    if vertices > MAX_VERTICES:
        raise ZoneError(
            _("Le contour a %(n)d sommets ; %(max)d au plus.", n=vertices, max=MAX_VERTICES)
        )
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ZoneError(
            _("Les coordonnées doivent être en degrés (longitude, latitude), en WGS 84.")
        )
    if not geometry.is_valid:
        raise ZoneError(
            _("Le polygone n'est pas valide : %(why)s.", why=explain_validity(geometry))
        )
    if geometry.area <= 0:
        raise ZoneError(_("Le polygone est vide."))
    _check_near_territory(geometry, territory)
    return ParsedZone(
        geometry=json.loads(json.dumps(mapping(geometry))),  # tuples → lists
        area_km2=round(_area_km2(geometry), 2),
        vertices=vertices,
    )


def _check_near_territory(geometry: BaseGeometry, territory: Territory) -> None:
    outline = territory_shape(territory)
    if outline is None:
        points = [Point(c.longitude, c.latitude) for c in territory.communes]
        if not points:
            return
        outline = unary_union(points).convex_hull.buffer(0.05)
    around = outline.buffer(TERRITORY_MARGIN_DEG)
    if not geometry.intersects(outline):
        raise ZoneError(_("La zone est en dehors du territoire."))
    if not around.covers(geometry):
        raise ZoneError(_("La zone déborde du territoire de plus de 2 km environ."))


def set_zone_polygon(territory: Territory, parsed: ParsedZone) -> DeliveryZone:
    zone = _zone_for_update(territory)
    zone.polygon = parsed.geometry
    _touch(zone)
    db.session.flush()
    return zone
