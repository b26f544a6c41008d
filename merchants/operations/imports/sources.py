"""What an import reads: the file (its format, reopened from the start) and the
table read from it (the header checked, the rows as a stream)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _

from ...models import ImportFormat
from .common import ALL_COLUMNS, COLUMNS, ImportFileError


@dataclass
class Source:
    """A file to import: its format and a way to (re)open it from the start."""

    format: ImportFormat
    open: Callable[[], IO[bytes]]
    filename: str = ""


def detect_format(head: bytes, filename: str = "") -> ImportFormat:
    """XLSX when the content is a zip (whatever the name says), else CSV.

    Refuses the old binary .xls and a name ending in .xlsx over something not a zip.
    """
    name = filename.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _("Ancien format Excel (.xls) non pris en charge : enregistrez en .xlsx ou en CSV.")
        )
    if head.startswith(b"PK\x03\x04"):
        return ImportFormat.XLSX
    if name.endswith((".xlsx", ".xlsm")):
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide."))
    return ImportFormat.CSV


def source_from_bytes(content: bytes, filename: str = "") -> Source:
    fmt = detect_format(content[:8], filename)
    return Source(fmt, lambda: io.BytesIO(content), filename)


def source_from_path(path: str | Path) -> Source:
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
    return Source(detect_format(head, path.name), lambda: path.open("rb"), path.name)


@dataclass
class Table:
    """The header (column name → index) and the data rows, read lazily."""

    columns: dict[str, int]
    rows: Iterator[tuple[int, Sequence[Any]]]  # (spreadsheet row number, cells)
    # A quick count of the data rows, for progress bars (not computed unless asked).
    count_rows: Callable[[], int] = lambda: 0
    encoding: str | None = None
    delimiter: str | None = None
    unknown_columns: list[str] = field(default_factory=list)


def _normalise_header(cells: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        name = ("" if cell is None else str(cell)).strip().strip("\ufeff").strip().lower()
        if not name:
            continue
        if name in ALL_COLUMNS and name not in columns:
            columns[name] = index
        else:
            unknown.append(name[:40])
    return columns, unknown


def _check_header(columns: dict[str, int]) -> None:
    missing = [c for c in COLUMNS if c not in columns]
    if len(missing) == len(COLUMNS):
        raise ImportFileError(
            _(
                "En-tête introuvable : la première ligne doit nommer les colonnes "
                "(sku, product_name, price…). Partez du modèle à télécharger."
            )
        )
    if missing:
        raise ImportFileError(
            _("Colonnes manquantes : %(columns)s.", columns=", ".join(missing)),
            column=missing[0],
        )
