"""stock reservation expiry and seen prices

Revision ID: 0002_reservation
Revises: 3e110736e810
Create Date: 2026-11-24 04:17:35.056641
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_reservation'
down_revision = '3e110736e810'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('basket_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seen_price_cents', sa.Integer(), nullable=True))

    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_order_expires_at'), ['expires_at'], unique=False)



def downgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_order_expires_at'))
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('basket_line', schema=None) as batch_op:
        batch_op.drop_column('seen_price_cents')

