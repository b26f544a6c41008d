"""settlement progress: when a settlement last changed, so the resume task sends again
only the ones whose task was lost, not one a worker is still paying

Revision ID: 0019_settlement_progress
Revises: 0018_invoices
Create Date: 2026-11-24 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0019_settlement_progress'
down_revision = '0018_invoices'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    # Existing rows: their last known step.
    op.execute('UPDATE settlement SET updated_at = COALESCE(paid_at, computed_at, created_at)')
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.alter_column('updated_at', nullable=False)


def downgrade():
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
