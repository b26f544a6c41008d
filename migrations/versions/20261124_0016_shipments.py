"""shipments: standard parcels with carrier, tracking number, weight, status and events

Revision ID: 0016_shipments
Revises: 0015_rounds
Create Date: 2026-11-24 06:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016_shipments'
down_revision = '0015_rounds'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub_order_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=30), nullable=False),
    sa.Column('tracking_number', sa.String(length=40), nullable=False),
    sa.Column('weight_grams', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('label_created', 'shipped', 'in_transit', 'out_for_delivery', 'delivered', 'failed', 'returned', name='shipment_status', native_enum=False, length=32), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_shipment_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_shipment_shop_id_shop')),
    sa.ForeignKeyConstraint(['sub_order_id'], ['sub_order.id'], name=op.f('fk_shipment_sub_order_id_sub_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment')),
    sa.UniqueConstraint('carrier', 'tracking_number', name=op.f('uq_shipment_carrier_tracking_number'))
    )
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_sub_order_id'), ['sub_order_id'], unique=False)

    op.create_table('shipment_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=30), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('status', sa.Enum('label_created', 'shipped', 'in_transit', 'out_for_delivery', 'delivered', 'failed', 'returned', name='shipment_status', native_enum=False, length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('location', sa.String(length=100), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_shipment_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipment.id'], name=op.f('fk_shipment_event_shipment_id_shipment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_event')),
    sa.UniqueConstraint('carrier', 'external_id', name=op.f('uq_shipment_event_carrier_external_id'))
    )
    with op.batch_alter_table('shipment_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_event_shipment_id'), ['shipment_id'], unique=False)



def downgrade():
    with op.batch_alter_table('shipment_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_event_shipment_id'))

    op.drop_table('shipment_event')
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_sub_order_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_shop_id'))

    op.drop_table('shipment')
