"""Reading an import file as a stream: the format, the encoding and delimiter of a
CSV file, a bounded XLSX reader, and the header checked."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _

from ...models import (
    ImportFormat,
)
from .common import (
    ALL_COLUMNS,
    COLUMNS,
    MAX_COLUMNS,
    MAX_LINE_CHARS,
    MAX_RECORD_CHARS,
    XLSX_MAX_ENTRIES,
    XLSX_MAX_RATIO,
    XLSX_MAX_UNCOMPRESSED,
    ImportFileError,
)

# -- sources and tables -------------------------------------------------------------


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


# CSV ------------------------------------------------------------------------------


def _detect_encoding(stream: IO[bytes]) -> tuple[str, int]:
    """UTF-8 (with or without BOM), else Windows-1252; and the number of lines.

    One pass over the bytes, chunk by chunk; refuses binary content.
    """
    head = stream.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            _("Fichier en UTF-16 non pris en charge : enregistrez-le en « CSV UTF-8 ».")
        )
    stream.seek(0)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    utf8_ok = cp1252_ok = True
    lines = 0
    while chunk := stream.read(1024 * 1024):
        if b"\x00" in chunk:
            raise ImportFileError(
                _("Ce fichier n'est pas un fichier texte CSV ni un classeur XLSX.")
            )
        lines += chunk.count(b"\n")
        if utf8_ok:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok and cp1252_ok:
            try:
                cp1252.decode(chunk)
            except UnicodeDecodeError:
                cp1252_ok = False
        if not utf8_ok and not cp1252_ok:
            break
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
            return "utf-8-sig", lines
        except UnicodeDecodeError:
            pass
    if cp1252_ok:
        # Windows-1252 was read from the start only if UTF-8 failed late: re-check it.
        stream.seek(0)
        try:
            while chunk := stream.read(1024 * 1024):
                cp1252.decode(chunk)
        except UnicodeDecodeError:
            cp1252_ok = False
    if cp1252_ok:
        return "cp1252", lines
    raise ImportFileError(
        _("Encodage illisible : enregistrez le fichier en « CSV UTF-8 » depuis votre tableur.")
    )


class _Lines:
    """Physical lines of a text stream, each bounded, and records bounded too."""

    def __init__(self, text_stream: IO[str], first: str) -> None:
        self.text = text_stream
        self.pending: str | None = first
        self.record_chars = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending is not None:
            line, self.pending = self.pending, None
        else:
            line = self.text.readline(MAX_LINE_CHARS + 1)
            if not line:
                raise StopIteration
            if len(line) > MAX_LINE_CHARS:
                raise ImportFileError(
                    _("Ligne trop longue (plus de 64 000 caractères) : fichier non conforme.")
                )
        self.record_chars += len(line)
        if self.record_chars > MAX_RECORD_CHARS:
            raise ImportFileError(
                _("Cellule trop longue ou guillemet jamais fermé : fichier non conforme.")
            )
        return line


def _sniff_delimiter(header_line: str) -> str:
    best, best_score = ";", -1
    for delimiter in (";", ",", "\t"):
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        score = len(_normalise_header(cells)[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


@contextmanager
def _csv_table(source: Source) -> Iterator[Table]:
    with source.open() as stream:
        encoding, lines = _detect_encoding(stream)
        stream.seek(0)
        text_stream = io.TextIOWrapper(stream, encoding=encoding, newline="")
        header_line = text_stream.readline(MAX_LINE_CHARS + 1)
        if len(header_line) > MAX_LINE_CHARS:
            raise ImportFileError(
                _("Ligne d'en-tête trop longue : fichier non conforme (trop de colonnes).")
            )
        delimiter = _sniff_delimiter(header_line)
        line_iter = _Lines(text_stream, header_line)
        reader = csv.reader(line_iter, delimiter=delimiter)
        try:
            header = next(reader, [])
        except csv.Error:
            header = []
        if len(header) > MAX_COLUMNS:
            raise ImportFileError(_("Trop de colonnes : %(n)d au plus.", n=MAX_COLUMNS))
        columns, unknown = _normalise_header(header)
        _check_header(columns)

        def rows() -> Iterator[tuple[int, Sequence[Any]]]:
            number = 1
            while True:
                line_iter.record_chars = 0
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ImportFileError(
                        _("Ligne %(row)d illisible : %(error)s", row=number + 1, error=str(exc))
                    ) from None
                number += 1
                if len(cells) > MAX_COLUMNS:
                    raise ImportFileError(
                        _(
                            "Ligne %(row)d : trop de colonnes (%(n)d au plus).",
                            row=number,
                            n=MAX_COLUMNS,
                        )
                    )
                yield number, cells

        data_lines = max(lines - 1, 0)
        yield Table(columns, rows(), lambda: data_lines, encoding, delimiter, unknown)


# XLSX -----------------------------------------------------------------------------


def _check_zip(stream: IO[bytes]) -> None:
    """A real XLSX and no zip bomb: bounded member count, sizes and ratios."""
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide.")) from None
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        raise ImportFileError(_("Ce fichier .xlsx n'est pas un classeur Excel valide."))
    too_big = len(members) > XLSX_MAX_ENTRIES or (
        sum(m.file_size for m in members) > XLSX_MAX_UNCOMPRESSED
    )
    for member in members:
        if member.file_size > 1024 * 1024 and (
            member.file_size > XLSX_MAX_RATIO * max(member.compress_size, 1)
        ):
            too_big = True
    if too_big:
        raise ImportFileError(
            _("Classeur refusé : son contenu décompressé est anormalement volumineux.")
        )


def _first_sheet(stream: IO[bytes]) -> tuple[Any, str]:
    """openpyxl's reader with the strings, workbook and styles read, and the path of
    the first worksheet in the archive.

    `load_workbook(read_only=True)` also measures every sheet when it opens the file,
    and for a sheet without a `<dimension>` (openpyxl's own write-only files, so our
    export's) that is a full parse of it: the importer reads the rows only once.
    """
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader = ExcelReader(stream, read_only=True, data_only=False)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)  # date formats: a date stays a date
    for _sheet, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return reader, rel.target
    raise ImportFileError(_("Ce classeur ne contient aucune feuille."))


def _xlsx_rows(reader: Any, path: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number, cell values) of the sheet, in order, read as a stream with
    openpyxl's own cell parser (shared strings, numbers, dates, booleans)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook = reader.wb
    with reader.archive.open(path) as src:
        parser = WorkSheetParser(
            src,
            reader.shared_strings,
            data_only=False,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for number, cells in parser.parse():
            width = 0
            for cell in cells:
                width = max(width, min(cell["column"], MAX_COLUMNS))
            values: list[Any] = [None] * width
            for cell in cells:
                column = cell["column"]
                if column <= MAX_COLUMNS:
                    values[column - 1] = cell["value"]
            yield number, tuple(values)


_ROW_TAG = re.compile(rb"<row[\s>/]")


def _xlsx_row_count(stream: IO[bytes]) -> int:
    """The sheet's rows counted in its XML without parsing it (its `<row` tags)."""
    reader, path = _first_sheet(stream)
    count, carry = 0, b""
    try:
        with reader.archive.open(path) as src:
            while chunk := src.read(1024 * 1024):
                data = carry + chunk
                count += len(_ROW_TAG.findall(data))
                carry = data[-4:]  # shorter than a tag: never counted twice
    finally:
        reader.archive.close()
    return count


@contextmanager
def _xlsx_table(source: Source) -> Iterator[Table]:
    unreadable = _("Classeur Excel illisible : enregistrez-le à nouveau en .xlsx ou en CSV.")
    with source.open() as stream:
        _check_zip(stream)
        stream.seek(0)
        try:
            reader, path = _first_sheet(stream)
        except ImportFileError:
            raise
        except Exception:
            raise ImportFileError(unreadable) from None
        try:
            try:
                raw = _xlsx_rows(reader, path)
                header: Sequence[Any] = ()
                number = 0  # the header's row
                for row_number, cells in raw:
                    if any(c is not None and str(c).strip() for c in cells):
                        header, number = cells, row_number
                        break
            except Exception:
                raise ImportFileError(unreadable) from None
            columns, unknown = _normalise_header(header)
            _check_header(columns)

            def rows() -> Iterator[tuple[int, Sequence[Any]]]:
                try:
                    yield from raw
                except ImportFileError:
                    raise
                except Exception:
                    raise ImportFileError(unreadable) from None

            def count() -> int:
                try:
                    with source.open() as again:
                        return max(_xlsx_row_count(again) - number, 0)
                except Exception:
                    return 0

            yield Table(columns, rows(), count, None, None, unknown)
        finally:
            reader.archive.close()


@contextmanager
def open_table(source: Source) -> Iterator[Table]:
    opener = _xlsx_table if source.format is ImportFormat.XLSX else _csv_table
    with opener(source) as table:
        yield table
