"""Reading an import file as a stream: the encoding and delimiter of a CSV file, each
line and record bounded; `open_table` for either format."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from flask_babel import gettext as _

from ...models import ImportFormat
from .common import MAX_COLUMNS, MAX_LINE_CHARS, MAX_RECORD_CHARS, ImportFileError
from .sources import Source, Table, _check_header, _normalise_header
from .xlsx import _xlsx_table


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


@contextmanager
def open_table(source: Source) -> Iterator[Table]:
    opener = _xlsx_table if source.format is ImportFormat.XLSX else _csv_table
    with opener(source) as table:
        yield table
