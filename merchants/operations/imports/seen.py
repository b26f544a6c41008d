"""What the rows already read leave for the later ones: each SKU's first row (a
duplicate is reported with it) and each product of the file (its first row, the
fields it gave, where it is written, whether it has a price or an error).

Kept in two temporary tables of the import's connection, not in Python, so the
import's memory does not grow with the file: a batch of rows loads the entries its
own SKUs and products need, and stores what it added or changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.schema import CreateTable, DropTable
from sqlalchemy.sql.elements import ColumnElement

from marketplace.extensions import db

from ...models import ProductStatus
from .rows import _Group
from .writes import copy_rows

_metadata = MetaData()
_SKUS = Table(
    "import_seen_sku",
    _metadata,
    Column("sku", String, primary_key=True),
    Column("first_row", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_GROUPS = Table(
    "import_seen_product",
    _metadata,
    Column("key", String(32), primary_key=True),  # rows._group_key
    Column("first_row", Integer, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("product_id", Integer),
    Column("status", String(16), nullable=False),
    Column("priced", Boolean, nullable=False),
    Column("errors", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
)


class _Seen:
    """The file's SKUs and products read so far, batch by batch.

    The tables live as long as the connection, so they are made anew at the start
    of a run and dropped at its end: a run stopped half-way (a line it cannot read,
    in the same transaction as the next run; or a rollback on SQLite, whose driver
    commits DDL) leaves them behind. On PostgreSQL a batch's keys are sent as one
    array and its new entries with COPY: IN lists of 500 parameters and row-by-row
    inserts would take half the dry run.
    """

    def __init__(self) -> None:
        connection = db.session.connection()
        for table in (_SKUS, _GROUPS):
            connection.execute(DropTable(table, if_exists=True))
            connection.execute(CreateTable(table))
        self.postgresql = connection.dialect.name == "postgresql"
        self._skus_loaded: set[str] = set()
        self._groups_loaded: set[str] = set()
        # Built once a run: the same statements for every batch, compiled once.
        self._first_rows = select(_SKUS.c.sku, _SKUS.c.first_row).where(self._among(_SKUS.c.sku))
        self._groups = select(_GROUPS).where(self._among(_GROUPS.c.key))
        self._forget = delete(_GROUPS).where(self._among(_GROUPS.c.key))

    def _among(self, column: Column[Any]) -> ColumnElement[bool]:
        """`column` among the values of the parameter "values"."""
        if self.postgresql:
            return column == any_(bindparam("values", type_=ARRAY(column.type)))
        return column.in_(bindparam("values", expanding=True))

    def load(
        self, skus: Collection[str], keys: Collection[str]
    ) -> tuple[dict[str, int], dict[str, _Group]]:
        """The first rows of these SKUs, and the products of these keys, as earlier
        batches left them."""
        session = db.session
        first_rows: dict[str, int] = {}
        if skus:
            first_rows = dict(session.execute(self._first_rows, {"values": list(skus)}).all())
        groups: dict[str, _Group] = {}
        if keys:
            for key, *fields in session.execute(self._groups, {"values": list(keys)}):
                groups[key] = _group(*fields)
        self._skus_loaded = set(first_rows)
        self._groups_loaded = set(groups)
        return first_rows, groups

    def store(self, first_rows: dict[str, int], groups: dict[str, _Group]) -> None:
        """Keep what the batch added (new SKUs and products) and changed (its
        products' ids, prices, errors) for the batches after it."""
        new_skus = [(sku, row) for sku, row in first_rows.items() if sku not in self._skus_loaded]
        if self._groups_loaded:
            db.session.execute(self._forget, {"values": list(self._groups_loaded)})
        self._insert(_SKUS, new_skus)
        self._insert(
            _GROUPS,
            [
                (
                    key,
                    group.first_row,
                    group.signature,
                    group.product_id,
                    group.status.value,
                    group.priced,
                    group.errors,
                )
                for key, group in groups.items()
            ],
        )

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self.postgresql:
            names = [column.name for column in table.columns]
            db.session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
            return
        with copy_rows(f"COPY {table.name} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def products(self) -> Iterator[_Group]:
        """Every product of the file without an error, in the order of their first
        rows, read from the table a few at a time."""
        result = db.session.execute(
            select(_GROUPS).where(_GROUPS.c.errors.is_(False)).order_by(_GROUPS.c.first_row),
            execution_options={"yield_per": 500},
        )
        for _key, *fields in result:
            yield _group(*fields)

    def close(self) -> None:
        connection = db.session.connection()
        for table in (_SKUS, _GROUPS):
            connection.execute(DropTable(table))


def _group(
    first_row: int,
    signature: bytes,
    product_id: int | None,
    status: str,
    priced: bool,
    errors: bool,
) -> _Group:
    return _Group(first_row, signature, product_id, ProductStatus(status), priced, errors)
