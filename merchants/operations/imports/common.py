"""The catalogue import's columns, limits, file error and report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext

from marketplace.errors import size_text

# The columns of the template, in order; product_ref is optional.
COLUMNS = (
    "sku",
    "product_name",
    "description",
    "category",
    "vat_rate",
    "price",
    "stock",
    "ean",
    "weight_grams",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "status",
)
OPTIONAL_COLUMNS = ("product_ref",)
ALL_COLUMNS = COLUMNS + OPTIONAL_COLUMNS
TEXT_COLUMNS = frozenset(
    {
        "sku",
        "product_name",
        "description",
        "category",
        "option1_name",
        "option1_value",
        "option2_name",
        "option2_value",
        "product_ref",
    }
)
FORMULA_CHARS = ("=", "+", "-", "@")

MAX_UPLOAD_BYTES = 10 * 1024 * 1024

MAX_COLUMNS = 64
MAX_LINE_CHARS = 64 * 1024  # one physical line of a CSV file
MAX_RECORD_CHARS = 256 * 1024  # one record (quoted fields may span lines)
MAX_ROWS = 100_000
MAX_STORED_PROBLEMS = 1_000
XLSX_MAX_ENTRIES = 2_000
XLSX_MAX_UNCOMPRESSED = 256 * 1024 * 1024
XLSX_MAX_RATIO = 200  # uncompressed / compressed size of one member
BATCH_ROWS = 500  # rows checked and written together (the progress moves per batch)
DEFAULT_ASYNC_ROWS = 500

Progress = Callable[[int], None]


def too_large_message() -> str:
    """What a file over MAX_UPLOAD_BYTES is told, in the sender's language."""
    size = size_text(MAX_UPLOAD_BYTES)
    return str(gettext("Fichier trop volumineux : %(size)s au plus.", size=size))


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format, size, header)."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# -- the report ---------------------------------------------------------------------


@dataclass
class Report:
    """What a dry run (or an apply) found: counts, and the first problems."""

    rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    error_count: int = 0
    warning_count: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def changes(self) -> int:
        return (
            self.products_created
            + self.products_updated
            + self.variants_created
            + self.variants_updated
        )

    def add(self, row: int | None, column: str | None, message: str, warning: bool = False) -> None:
        if warning:
            self.warning_count += 1
        else:
            self.error_count += 1
        if len(self.problems) < MAX_STORED_PROBLEMS:
            self.problems.append(
                {
                    "row": row,
                    "column": column,
                    "message": message,
                    "level": "warning" if warning else "error",
                }
            )

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "warnings": self.warning_count,
            "products_created": self.products_created,
            "products_updated": self.products_updated,
            "variants_created": self.variants_created,
            "variants_updated": self.variants_updated,
            "unchanged": self.unchanged,
            "changes": self.changes,
        }
