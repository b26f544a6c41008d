"""Catalogue import from CSV or XLSX: a dry run listing every bad row, then apply,
all or nothing, creating or updating products and variants by SKU.

The file is read as a stream, one row at a time (csv.reader over a bounded line
iterator; expat over the sheet's XML), and memory does not grow with the file: what
later rows need of earlier ones (each SKU's first row, to report a duplicate; each
product's first row and the hashes of its fields) is kept in temporary tables. The
values are checked with the catalogue's own parsers and rules (`catalogue.parse_*`,
`text_error`, `lacks_price`, `slug_base`); the rows are handled in batches: the
catalogue is looked up per batch, and the writes (COPY on PostgreSQL) happen per batch
inside one savepoint of the caller's transaction, rolled back when any row is wrong.

Rows sharing a `product_ref` (or, without one, a `product_name`) are the variants of
one product. An empty cell leaves the current value (or the default for something
new). Text cells starting with = + - @ are flagged and kept as plain text; a leading
apostrophe before them (how the export protects them) is removed.

The package: `common` (columns, limits, the report), `sources` (the file, the header),
`readers` and `xlsx` (CSV and XLSX read as streams), `rows` (the catalogue as the rows
need it, one row's cells), `seen` (what the rows read so far leave for the later
ones), `importer` (the checks, batch by batch), `writes` (a batch's inserts and
updates), `jobs` (the uploaded file as a job). Everything public is re-exported here, so
`from merchants.operations import imports` works as before.
"""

from .common import (
    ALL_COLUMNS,
    BATCH_ROWS,
    COLUMNS,
    DEFAULT_ASYNC_ROWS,
    FORMULA_CHARS,
    MAX_COLUMNS,
    MAX_LINE_CHARS,
    MAX_RECORD_CHARS,
    MAX_ROWS,
    MAX_STORED_PROBLEMS,
    MAX_UPLOAD_BYTES,
    OPTIONAL_COLUMNS,
    TEXT_COLUMNS,
    XLSX_MAX_ENTRIES,
    XLSX_MAX_RATIO,
    XLSX_MAX_UNCOMPRESSED,
    ImportFileError,
    Progress,
    Report,
    too_large_message,
)
from .jobs import (
    apply,
    apply_source,
    async_threshold,
    check_rows,
    create_job,
    dry_run,
    estimate_rows,
    is_long,
    job_of_shop,
    mark_failed,
    progress_recorder,
    recent_jobs,
)
from .readers import open_table
from .rows import protect
from .sources import Source, Table, detect_format, source_from_bytes, source_from_path

__all__ = [
    "ALL_COLUMNS",
    "BATCH_ROWS",
    "COLUMNS",
    "DEFAULT_ASYNC_ROWS",
    "FORMULA_CHARS",
    "MAX_COLUMNS",
    "MAX_LINE_CHARS",
    "MAX_RECORD_CHARS",
    "MAX_ROWS",
    "MAX_STORED_PROBLEMS",
    "MAX_UPLOAD_BYTES",
    "OPTIONAL_COLUMNS",
    "TEXT_COLUMNS",
    "XLSX_MAX_ENTRIES",
    "XLSX_MAX_RATIO",
    "XLSX_MAX_UNCOMPRESSED",
    "ImportFileError",
    "Progress",
    "Report",
    "Source",
    "Table",
    "apply",
    "apply_source",
    "async_threshold",
    "check_rows",
    "create_job",
    "detect_format",
    "dry_run",
    "estimate_rows",
    "is_long",
    "job_of_shop",
    "mark_failed",
    "open_table",
    "progress_recorder",
    "protect",
    "recent_jobs",
    "source_from_bytes",
    "source_from_path",
    "too_large_message",
]
