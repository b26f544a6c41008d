"""The migrations are the only way the schema is made: they must equal the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from marketplace.extensions import db


def _search_objects_hidden(obj, name, type_, *args) -> bool:  # type: ignore[no-untyped-def]
    """Search indexes, FTS tables and product.search_document live in the migrations
    only (see migrations/env.py)."""
    return not (type_ in ("index", "table", "column") and (name or "").startswith("search_"))


def test_upgrade_on_empty_database_matches_the_models(_app: Flask) -> None:
    # The session fixture built the schema with `flask db upgrade` on an empty
    # database; autogenerate must find nothing left to do.
    with _app.app_context(), db.engine.connect() as conn:
        opts = {"compare_type": True, "include_object": _search_objects_hidden}
        context = MigrationContext.configure(conn, opts=opts)
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_one_linear_history(_app: Flask) -> None:
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    migrate: Migrate = _app.extensions["migrate"]
    with _app.app_context():
        config = migrate.migrate.get_config(migrate.directory)
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1


def test_database_is_at_head(_app: Flask) -> None:
    with _app.app_context(), db.engine.connect() as conn:
        version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert version
