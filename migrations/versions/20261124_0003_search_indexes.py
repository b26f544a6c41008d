"""search indexes: French full-text and trigram indexes (PostgreSQL), FTS5 (SQLite)

Revision ID: 0003_search
Revises: 0002_reservation
Create Date: 2026-11-24 04:18:32.780495

Every object made here is named `search_*` (or `comptoir_*` for SQL functions) and is
not declared in the models: migrations/env.py's `include_object` hides the `search_*`
indexes and tables from autogenerate. The expressions must stay identical to the ones
in shop/operations/search.py, or the planner will not use the indexes.
"""

from alembic import op


revision = '0003_search'
down_revision = '0002_reservation'
branch_labels = None
depends_on = None

PG_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    # unaccent() is STABLE (it depends on the search_path); naming the dictionary
    # makes this wrapper safe to declare IMMUTABLE, so indexes can use it.
    """
    CREATE OR REPLACE FUNCTION public.comptoir_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
    """,
    """
    CREATE OR REPLACE FUNCTION public.comptoir_product_document(text, text, text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
      SELECT setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($1, ''))), 'A')
          || setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($2, ''))), 'B')
          || setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($3, ''))), 'C')
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION public.comptoir_shop_document(text, text, text, text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
      SELECT setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($1, ''))), 'A')
          || setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($2, ''))), 'B')
          || setweight(to_tsvector('pg_catalog.french'::regconfig,
                                   public.comptoir_unaccent(coalesce($3, '') || ' '
                                                            || coalesce($4, ''))), 'C')
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION public.comptoir_search_key(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.comptoir_unaccent($1)) $$
    """,
    "CREATE INDEX search_product_document ON product USING gin "
    "(comptoir_product_document(name, category, description))",
    "CREATE INDEX search_product_name_trgm ON product USING gin "
    "(comptoir_search_key(name) gin_trgm_ops)",
    "CREATE INDEX search_shop_document ON shop USING gin "
    "(comptoir_shop_document(name, tagline, story, advice))",
    "CREATE INDEX search_shop_name_trgm ON shop USING gin "
    "(comptoir_search_key(name) gin_trgm_ops)",
]

PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS search_shop_name_trgm",
    "DROP INDEX IF EXISTS search_shop_document",
    "DROP INDEX IF EXISTS search_product_name_trgm",
    "DROP INDEX IF EXISTS search_product_document",
    "DROP FUNCTION IF EXISTS public.comptoir_search_key(text)",
    "DROP FUNCTION IF EXISTS public.comptoir_shop_document(text, text, text, text)",
    "DROP FUNCTION IF EXISTS public.comptoir_product_document(text, text, text)",
    "DROP FUNCTION IF EXISTS public.comptoir_unaccent(text)",
    # The extensions stay: other objects may use them, and they cost nothing.
]

# External-content FTS5 tables: the text lives in product/shop, the index here,
# kept in sync by triggers. "remove_diacritics 2" ignores accents ("cafe" = "café").
# Beware: a batch migration that recreates product or shop on SQLite drops these
# triggers; such a migration must run SQLITE_TRIGGERS again.
TOKENIZE = "unicode61 remove_diacritics 2"
FTS_TABLES = {
    "product": ("search_product_fts", ("name", "category", "description")),
    "shop": ("search_shop_fts", ("name", "tagline", "story", "advice")),
}


def _sqlite_triggers(table: str) -> list[str]:
    fts, cols = FTS_TABLES[table]
    names = ", ".join(cols)
    new = ", ".join(f"new.{c}" for c in cols)
    old = ", ".join(f"old.{c}" for c in cols)
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} BEGIN {delete} {insert} END",
    ]


def _sqlite_upgrade() -> list[str]:
    statements = []
    for table, (fts, cols) in FTS_TABLES.items():
        statements.append(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({', '.join(cols)}, "
            f"content='{table}', content_rowid='id', tokenize='{TOKENIZE}')"
        )
        statements.extend(_sqlite_triggers(table))
        statements.append(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    return statements


def _sqlite_downgrade() -> list[str]:
    statements = []
    for fts, _cols in FTS_TABLES.values():
        for suffix in ("ai", "ad", "au"):
            statements.append(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        statements.append(f"DROP TABLE IF EXISTS {fts}")
    return statements


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        statements = PG_UPGRADE
    elif dialect == "sqlite":
        statements = _sqlite_upgrade()
    else:
        return
    for statement in statements:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        statements = PG_DOWNGRADE
    elif dialect == "sqlite":
        statements = _sqlite_downgrade()
    else:
        return
    for statement in statements:
        op.execute(statement)
