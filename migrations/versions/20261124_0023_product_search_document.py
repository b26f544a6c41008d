"""product search document: each product's French full-text document stored in a
generated column (PostgreSQL only), so a search ranks its candidates without
building their documents again

Revision ID: 0023_product_search_document
Revises: 0022_recommendation_moderation
Create Date: 2026-11-24 14:05:00

`product.search_document` is GENERATED ALWAYS from name, category and description
with comptoir_product_document() (IMMUTABLE, migration 0003_search): PostgreSQL
keeps it up to date on every INSERT, UPDATE and COPY, and nothing may write it. Like
the other `search_*` objects it is not declared in the models (migrations/env.py's
`include_object` hides it from autogenerate): SQLite has its FTS5 tables instead and
never gets the column. Its GIN index replaces the expression index
`search_product_document`, which indexed the same document.

Adding a stored generated column rewrites the table under an ACCESS EXCLUSIVE lock
(about a second for 20,000 products).
"""

from alembic import op


revision = "0023_product_search_document"
down_revision = "0022_recommendation_moderation"
branch_labels = None
depends_on = None

PG_UPGRADE = [
    "ALTER TABLE product ADD COLUMN search_document tsvector GENERATED ALWAYS AS "
    "(public.comptoir_product_document(name, category, description)) STORED",
    "CREATE INDEX search_product_search_document ON product USING gin (search_document)",
    "DROP INDEX IF EXISTS search_product_document",
]

PG_DOWNGRADE = [
    "CREATE INDEX search_product_document ON product USING gin "
    "(comptoir_product_document(name, category, description))",
    "DROP INDEX IF EXISTS search_product_search_document",
    "ALTER TABLE product DROP COLUMN IF EXISTS search_document",
]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite searches its FTS5 tables (0003_search)
    for statement in PG_UPGRADE:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in PG_DOWNGRADE:
        op.execute(statement)
