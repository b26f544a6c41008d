"""Alembic environment: the models' metadata, the app's engine."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from marketplace.extensions import db
from marketplace.models import UTCDateTime

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")


def load_models():
    """Import every domain's models so the metadata is complete."""
    import importlib

    from marketplace.config import DOMAINS

    for name in DOMAINS:
        try:
            importlib.import_module(f"{name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.models":
                raise


def render_item(type_, obj, autogen_context):
    # Migrations must not import application code: UTC timestamps render as
    # the plain column type they are stored as.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


SEARCH_PREFIX = "search_"


def include_object(obj, name, type_, reflected, compare_to):
    """Leave out what only migrations make: the search indexes and FTS5 tables
    (migration 0003_search) and product's stored search document (0023, PostgreSQL
    only), all named `search_*`, which no model declares."""
    return not (type_ in ("index", "table", "column") and (name or "").startswith(SEARCH_PREFIX))


load_models()
target_metadata = db.metadata
common = {
    "target_metadata": target_metadata,
    "render_item": render_item,
    "include_object": include_object,
    "compare_type": True,
    "render_as_batch": True,  # SQLite needs batch mode to alter tables
}


def run_migrations_offline():
    context.configure(
        url=current_app.config["SQLALCHEMY_DATABASE_URI"], literal_binds=True, **common
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, **common)
        with context.begin_transaction():
            context.run_migrations()
        return
    with db.engine.connect() as connection:
        context.configure(connection=connection, **common)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
