"""sub-order delivery: address, point, express slot and expected window

Revision ID: 0013_sub_order_delivery
Revises: 0012_couriers
Create Date: 2026-11-24 05:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013_sub_order_delivery'
down_revision = '0012_couriers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sub_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_address', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('delivery_latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('delivery_longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('delivery_approximate', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('delivery_slot_start', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivery_slot_end', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expected_from', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expected_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('sub_order', schema=None) as batch_op:
        batch_op.drop_column('expected_until')
        batch_op.drop_column('expected_from')
        batch_op.drop_column('delivery_slot_end')
        batch_op.drop_column('delivery_slot_start')
        batch_op.drop_column('delivery_approximate')
        batch_op.drop_column('delivery_longitude')
        batch_op.drop_column('delivery_latitude')
        batch_op.drop_column('delivery_address')
