"""A small territory for the delivery tests: three square communes side by side.

    Marmande-test (47001)  around (44.50, 0.16)  — the shops are at its centre
    Est-test      (47002)  around (44.50, 0.26)
    Ouest-test    (47003)  around (44.50, 0.06)

Each square is 0.1° wide (≈ 8 km east-west, 11 km north-south).
"""

from __future__ import annotations

from typing import Any

from delivery.operations import set_zone_communes
from marketplace.extensions import db
from marketplace.models import Territory
from tests.factories import CommuneFactory, TerritoryFactory

CENTRE = (44.5, 0.16)  # the shops' point
EAST = (44.5, 0.26)
WEST = (44.5, 0.06)
FAR = (48.85, 2.35)  # Paris: outside the territory


def square(lat: float, lon: float, half: float = 0.05) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - half, lat - half],
                [lon + half, lat - half],
                [lon + half, lat + half],
                [lon - half, lat + half],
                [lon - half, lat - half],
            ]
        ],
    }


def make_territory(
    *, express: list[str] | None = None, settings: dict[str, Any] | None = None
) -> Territory:
    """The territory; its express zone is `express` (INSEE codes; default the centre)."""
    territory = TerritoryFactory(settings={"delivery": settings} if settings else {})
    codes = []
    for index, (name, (lat, lon)) in enumerate(
        [("Marmande-test", CENTRE), ("Est-test", EAST), ("Ouest-test", WEST)], start=1
    ):
        code = f"9{territory.id % 100:02d}{index:02d}"[-5:]
        CommuneFactory(
            territory=territory,
            insee_code=code,
            name=name,
            latitude=lat,
            longitude=lon,
            outline=square(lat, lon),
        )
        codes.append(code)
    db.session.flush()
    db.session.expire(territory, ["communes"])
    set_zone_communes(territory, [codes[0]] if express is None else express)
    return territory


def insee(territory: Territory, name: str) -> str:
    return next(c.insee_code for c in territory.communes if c.name == name)
