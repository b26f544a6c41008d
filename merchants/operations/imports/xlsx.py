"""Reading an XLSX import file: the archive bounded, then the first sheet's rows as a
stream.

openpyxl reads the workbook, its shared strings and styles; the sheet's rows are read
here with expat, because openpyxl's sheet parser costs about four times as much for
the same values: it builds an element per row with the pure-Python XML parser that
defusedxml puts in place of the C one, and an object per inline string. The values
are those of `load_workbook(read_only=True)`: shared and inline strings, numbers,
dates and times by the cell's number format, booleans, error codes as text, and
formulas as "=" and their text (a shared formula translated to its cell).
"""

from __future__ import annotations

import pyexpat
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, NoReturn

from flask_babel import gettext as _

from .common import (
    MAX_COLUMNS,
    MAX_RECORD_CHARS,
    XLSX_MAX_ENTRIES,
    XLSX_MAX_RATIO,
    XLSX_MAX_UNCOMPRESSED,
    ImportFileError,
)
from .sources import Source, Table, _check_header, _normalise_header


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


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"  # expat: "ns}tag"
_ROW, _CELL, _VALUE, _FORMULA, _INLINE, _TEXT, _PHONETIC = (
    _MAIN + tag for tag in ("row", "c", "v", "f", "is", "t", "rPh")
)
_CHUNK_BYTES = 64 * 1024


def _refuse(*_args: Any) -> NoReturn:
    """What defusedxml refuses: declared entities (billion laughs), external ones. A
    DTD comes before the first row, so the file is reported as unreadable."""
    raise ValueError("XML entities are refused")


def _row_number(text: str) -> int:
    """openpyxl's reading of a row's `r`: an integer, possibly written "12.0"."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


class _SheetRows:
    """A worksheet's XML fed to expat chunk by chunk; the handlers turn each `<row>`
    into (row number, cell values), at most MAX_COLUMNS of them."""

    def __init__(self, reader: Any) -> None:
        # openpyxl is imported when a workbook is read, not when the app starts.
        from openpyxl.formula.translate import Translator
        from openpyxl.utils.cell import column_index_from_string
        from openpyxl.utils.datetime import from_excel, from_ISO8601
        from openpyxl.worksheet._reader import _cast_number

        self.translator = Translator
        self.column_index = column_index_from_string
        self.from_excel = from_excel
        self.from_iso8601 = from_ISO8601
        self.cast_number = _cast_number
        workbook = reader.wb
        self.strings = reader.shared_strings
        self.epoch = workbook.epoch
        self.date_formats = workbook._date_formats
        self.timedelta_formats = workbook._timedelta_formats
        self.shared_formulae: dict[str, Any] = {}  # si → openpyxl's Translator
        self.ready: list[tuple[int, tuple[Any, ...]]] = []
        self.row_number = 0
        self.column = 0
        self.values: list[Any] = []
        # The cell being read: its attributes, the texts of its <v>, <f> and <is>.
        self.cell: dict[str, str] = {}
        self.value: list[str] | None = None
        self.formula: dict[str, str] | None = None
        self.formula_text: list[str] = []
        self.inline: list[str] | None = None
        self.phonetic = False  # inside <rPh>, a reading guide openpyxl leaves out
        self.text: list[str] | None = None  # where character data goes now
        self.text_chars = 0
        parser = pyexpat.ParserCreate(namespace_separator="}")
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.EntityDeclHandler = _refuse
        parser.UnparsedEntityDeclHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse
        self.parser = parser

    def rows(self, stream: IO[bytes]) -> Iterator[tuple[int, tuple[Any, ...]]]:
        parse = self.parser.Parse
        while chunk := stream.read(_CHUNK_BYTES):
            parse(chunk, False)
            if self.ready:
                ready, self.ready = self.ready, []
                yield from ready
        parse(b"", True)
        yield from self.ready

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _CELL:
            self.cell = attrs
            self.value = self.formula = self.inline = None
        elif name == _TEXT:
            if self.inline is not None and not self.phonetic:
                self._collect(self.inline)
        elif name == _VALUE:
            self.value = []
            self._collect(self.value)
        elif name == _INLINE:
            self.inline = []
        elif name == _ROW:
            number = attrs.get("r")
            self.row_number = _row_number(number) if number else self.row_number + 1
            self.column = 0
            self.values = []
        elif name == _FORMULA:
            self.formula = attrs
            self.formula_text = []
            self._collect(self.formula_text)
        elif name == _PHONETIC:
            self.phonetic = True

    def _collect(self, into: list[str]) -> None:
        self.text = into
        self.text_chars = 0

    def _characters(self, data: str) -> None:
        if self.text is not None:
            self.text_chars += len(data)
            if self.text_chars > MAX_RECORD_CHARS:
                raise ImportFileError(
                    _("Cellule trop longue (plus de 256 000 caractères) : classeur non conforme.")
                )
            self.text.append(data)

    def _end(self, name: str) -> None:
        if name == _CELL:
            self._cell_done()
        elif name in (_VALUE, _TEXT, _FORMULA):
            self.text = None
        elif name == _ROW:
            self.ready.append((self.row_number, tuple(self.values)))
        elif name == _PHONETIC:
            self.phonetic = False

    def _cell_done(self) -> None:
        reference = self.cell.get("r")
        column = self.column_index(reference.rstrip("0123456789")) if reference else self.column + 1
        self.column = column
        if column > MAX_COLUMNS:
            return
        values = self.values
        if len(values) < column:
            values.extend([None] * (column - len(values)))
        kind = self.cell.get("t", "n")
        if self.formula is not None:
            values[column - 1] = self._formula_value(reference)
        elif kind == "inlineStr":
            values[column - 1] = None if self.inline is None else "".join(self.inline)
        elif self.value:
            values[column - 1] = self._cell_value(kind, "".join(self.value))

    def _cell_value(self, kind: str, text: str) -> Any:
        """The value openpyxl gives a cell with a `<v>` (`WorkSheetParser.parse_cell`)."""
        if kind == "n":
            number = self.cast_number(text)
            style = int(self.cell.get("s") or 0)
            if style not in self.date_formats:
                return number
            try:
                return self.from_excel(
                    number, self.epoch, timedelta=style in self.timedelta_formats
                )
            except (OverflowError, ValueError):
                return "#VALUE!"
        if kind == "s":
            return self.strings[int(text)]
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            return self.from_iso8601(text)
        return text  # "str", an error code ("e")

    def _formula_value(self, reference: str | None) -> str:
        formula = self.formula or {}
        value = "=" + "".join(self.formula_text)
        if formula.get("t") == "shared":
            index = formula.get("si", "")
            if index in self.shared_formulae:
                return str(self.shared_formulae[index].translate_formula(reference))
            if value != "=":
                self.shared_formulae[index] = self.translator(value, reference)
        return value


def _xlsx_rows(reader: Any, path: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number, cell values) of the sheet, in order, read as a stream."""
    with reader.archive.open(path) as src:
        yield from _SheetRows(reader).rows(src)


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
