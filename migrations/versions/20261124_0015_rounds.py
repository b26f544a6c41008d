"""rounds: jobs of one slot grouped for one courier, their stops in an optimised order

Revision ID: 0015_rounds
Revises: 0014_reconciliation
Create Date: 2026-11-24 06:25:57
"""

from alembic import op
import sqlalchemy as sa


revision = '0015_rounds'
down_revision = '0014_reconciliation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('delivery_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('territory_id', sa.Integer(), nullable=False),
    sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('slot_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('courier_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('planned', 'assigned', 'in_progress', 'done', name='delivery_round_status', native_enum=False, length=32), nullable=False),
    sa.Column('optimised_m', sa.Integer(), nullable=False),
    sa.Column('creation_order_m', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['courier_id'], ['courier.id'], name=op.f('fk_delivery_round_courier_id_courier')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_delivery_round_created_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['territory_id'], ['territory.id'], name=op.f('fk_delivery_round_territory_id_territory')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_round'))
    )
    with op.batch_alter_table('delivery_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_round_courier_id'), ['courier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_round_slot_start'), ['slot_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_round_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_round_territory_id'), ['territory_id'], unique=False)

    op.create_table('delivery_round_stop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('pickup_position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['delivery_job.id'], name=op.f('fk_delivery_round_stop_job_id_delivery_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['delivery_round.id'], name=op.f('fk_delivery_round_stop_round_id_delivery_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_round_stop')),
    sa.UniqueConstraint('job_id', name=op.f('uq_delivery_round_stop_job_id'))
    )
    with op.batch_alter_table('delivery_round_stop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_round_stop_round_id'), ['round_id'], unique=False)



def downgrade():
    with op.batch_alter_table('delivery_round_stop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_round_stop_round_id'))

    op.drop_table('delivery_round_stop')
    with op.batch_alter_table('delivery_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_round_territory_id'))
        batch_op.drop_index(batch_op.f('ix_delivery_round_status'))
        batch_op.drop_index(batch_op.f('ix_delivery_round_slot_start'))
        batch_op.drop_index(batch_op.f('ix_delivery_round_courier_id'))

    op.drop_table('delivery_round')
