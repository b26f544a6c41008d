"""variant sku index: the catalogue import looks SKUs up batch by batch

Revision ID: 0017_variant_sku
Revises: 0016_shipments
Create Date: 2026-11-24 07:30:00

Without it each batch of an import (and `check_skus`) scanned every variant of the
platform to find the batch's SKUs.
"""

from alembic import op


revision = '0017_variant_sku'
down_revision = '0016_shipments'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_variant_sku'), 'variant', ['sku'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_variant_sku'), table_name='variant')
