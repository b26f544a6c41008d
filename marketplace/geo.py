"""Geocoding (Base Adresse Nationale through geopy, cached in the database) and distances.

`locate(street, postcode, commune)` never fails: when no geocoder is configured
(GEOCODER_ENABLED is False in the embedded mode and in tests), when the service
times out or errs, or when it finds nothing in that commune (or only a poor match,
scored under MIN_SCORE), the commune's reference point is returned with
`approximate=True` so the page can say the pin is approximate.

Configuration (app.config): GEOCODER_ENABLED (default False), GEOCODER_DOMAIN
(default "api-adresse.data.gouv.fr"), GEOCODER_SCHEME ("https"), GEOCODER_TIMEOUT
(seconds, 3), GEOCODER_MIN_DELAY (seconds between calls in a process, 0.05: the BAN
accepts 50 requests a second per address).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from geopy.adapters import BaseSyncAdapter, RequestsAdapter, URLLibAdapter
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import BANFrance
from sqlalchemy import Float, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Base, db
from .models import Commune, UTCDateTime, utcnow

log = logging.getLogger(__name__)

DEFAULT_DOMAIN = "api-adresse.data.gouv.fr"
DEFAULT_TIMEOUT = 3.0
DEFAULT_MIN_DELAY = 0.05
# The BAN's score (0 to 1) under which its best answer is not that address: a typo
# scores about 0.7, an unknown street about 0.35 (another street of the town).
MIN_SCORE = 0.5
USER_AGENT = "comptoir-marketplace"
EARTH_RADIUS_KM = 6371.0088


class GeocodeCache(Base):
    """A geocoding answer, keyed by the normalised query, so it is asked once."""

    __tablename__ = "geocode_cache"

    query: Mapped[str] = mapped_column(String(300), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(300), default="")
    citycode: Mapped[str | None] = mapped_column(String(5))
    precise: Mapped[bool] = mapped_column(default=True)  # False: only the town was found
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


@dataclass(frozen=True)
class GeoPoint:
    """Where a shop is placed, and whether that is only the commune's point."""

    latitude: float
    longitude: float
    approximate: bool
    label: str = ""


def normalise_query(text: str) -> str:
    """The cache key of a query: no accents, lower case, single spaces."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).split()
    return " ".join(words)[:300]


def address_query(street: str, postcode: str, commune_name: str) -> str:
    return f"{street.strip()}, {postcode.strip()} {commune_name.strip()}"


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def commune_point(commune: Commune) -> GeoPoint:
    return GeoPoint(commune.latitude, commune.longitude, approximate=True, label=commune.name)


_lock = threading.Lock()
_geocoders: dict[tuple[str, str, float, float], Callable[..., Any]] = {}


def geocoder_enabled() -> bool:
    return bool(current_app.config.get("GEOCODER_ENABLED", False))


def _adapter(*, proxies: Any, ssl_context: Any) -> BaseSyncAdapter:
    """geopy's HTTP client without retries of its own: its requests adapter retries a
    read timeout twice by default, which made a silent geocoder cost three timeouts."""
    if RequestsAdapter.is_available:
        return RequestsAdapter(proxies=proxies, ssl_context=ssl_context, max_retries=0)
    return URLLibAdapter(proxies=proxies, ssl_context=ssl_context)


def _geocode_function() -> Callable[..., Any]:
    """The rate-limited BANFrance geocode of this configuration, one per process."""
    config = current_app.config
    key = (
        str(config.get("GEOCODER_DOMAIN") or DEFAULT_DOMAIN),
        str(config.get("GEOCODER_SCHEME") or "https"),
        float(config.get("GEOCODER_TIMEOUT") or DEFAULT_TIMEOUT),
        float(config.get("GEOCODER_MIN_DELAY", DEFAULT_MIN_DELAY)),
    )
    with _lock:
        function = _geocoders.get(key)
        if function is None:
            domain, scheme, timeout, min_delay = key
            geocoder = BANFrance(
                domain=domain,
                scheme=scheme,
                timeout=timeout,
                user_agent=USER_AGENT,
                adapter_factory=_adapter,
            )
            # No retries and no swallowing: a person is waiting for the page, and a
            # failure must fall back to the commune's point at once.
            function = RateLimiter(
                geocoder.geocode,
                min_delay_seconds=min_delay,
                max_retries=0,
                swallow_exceptions=False,
            )
            _geocoders[key] = function
    return function


def _cached(key: str) -> GeocodeCache | None:
    return db.session.get(GeocodeCache, key)


def _store(key: str, entry: GeocodeCache) -> None:
    """Add an answer to the cache; a concurrent request storing it first is fine."""
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        log.info("geocode cache: an answer was stored concurrently")


def geocode(query: str) -> GeocodeCache | None:
    """The BAN's best answer to `query` (from the cache when asked before), or None
    when the geocoder is disabled, fails, times out or finds nothing."""
    if not geocoder_enabled():
        return None
    key = normalise_query(query)
    if not key:
        return None
    cached = _cached(key)
    if cached is not None:
        return cached
    try:
        location = _geocode_function()(query, limit=1)
    except GeopyError as exc:
        # Only the kind of failure: the message holds the URL, so the address.
        log.warning("geocoding failed (%s)", type(exc).__name__)
        return None
    if location is None:
        return None
    properties = (location.raw or {}).get("properties", {})
    score = float(properties.get("score", 1.0))
    if score < MIN_SCORE:
        # The BAN always answers something: below this it is another street.
        log.info("geocoding: best answer scored %.2f, not trusted", score)
        return None
    entry = GeocodeCache(
        query=key,
        latitude=float(location.latitude),
        longitude=float(location.longitude),
        label=str(properties.get("label") or location.address or "")[:300],
        citycode=(str(properties["citycode"])[:5] if properties.get("citycode") else None),
        precise=properties.get("type") != "municipality",
    )
    _store(key, entry)
    return entry


def locate(street: str, postcode: str, commune: Commune) -> GeoPoint:
    """The address's point, or the commune's reference point (approximate)."""
    answer = geocode(address_query(street, postcode, commune.name))
    if answer is None:
        return commune_point(commune)
    if answer.citycode and answer.citycode != commune.insee_code:
        # Found, but in another commune: a typo more likely than a shop elsewhere.
        log.info("geocoding landed in %s, not in %s", answer.citycode, commune.insee_code)
        return commune_point(commune)
    return GeoPoint(answer.latitude, answer.longitude, not answer.precise, answer.label)
