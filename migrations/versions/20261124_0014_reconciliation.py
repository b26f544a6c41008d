"""reconciliation reports with Stripe; the shop's Connect account state

Revision ID: 0014_reconciliation
Revises: 0013_sub_order_delivery
Create Date: 2026-11-24 07:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014_reconciliation'
down_revision = '0013_sub_order_delivery'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reconciliation_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stripe_count', sa.Integer(), nullable=False),
    sa.Column('stripe_cents', sa.BigInteger(), nullable=False),
    sa.Column('ledger_count', sa.Integer(), nullable=False),
    sa.Column('ledger_cents', sa.BigInteger(), nullable=False),
    sa.Column('difference_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_report')),
    sa.UniqueConstraint('period_start', 'period_end', name=op.f('uq_reconciliation_report_period_start_period_end'))
    )
    with op.batch_alter_table('reconciliation_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_report_period_start'), ['period_start'], unique=False)

    op.create_table('reconciliation_difference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('missing_in_ledger', 'missing_in_stripe', 'amount_mismatch', name='difference_kind', native_enum=False, length=32), nullable=False),
    sa.Column('object_type', sa.String(length=20), nullable=False),
    sa.Column('stripe_id', sa.String(length=255), nullable=True),
    sa.Column('balance_transaction_id', sa.String(length=255), nullable=True),
    sa.Column('ledger_reference', sa.String(length=120), nullable=True),
    sa.Column('stripe_cents', sa.BigInteger(), nullable=True),
    sa.Column('ledger_cents', sa.BigInteger(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reconciliation_report.id'], name=op.f('fk_reconciliation_difference_report_id_reconciliation_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_difference'))
    )
    with op.batch_alter_table('reconciliation_difference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_difference_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('payout_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_type', sa.String(length=20), server_default='express', nullable=False))
        batch_op.add_column(sa.Column('details_submitted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('charges_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('payouts_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('payout_account', schema=None) as batch_op:
        batch_op.drop_column('synced_at')
        batch_op.drop_column('payouts_enabled')
        batch_op.drop_column('charges_enabled')
        batch_op.drop_column('details_submitted')
        batch_op.drop_column('account_type')

    with op.batch_alter_table('reconciliation_difference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_difference_report_id'))

    op.drop_table('reconciliation_difference')
    with op.batch_alter_table('reconciliation_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_report_period_start'))

    op.drop_table('reconciliation_report')
