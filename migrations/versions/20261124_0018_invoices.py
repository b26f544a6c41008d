"""commission invoices numbered without gaps per territory and year (counter row
locked FOR UPDATE), and the settlement's sales cutoff (hold after fulfilment)

Revision ID: 0018_invoices
Revises: 0017_variant_sku
Create Date: 2026-11-24 06:27:07.913624
"""

from alembic import op
import sqlalchemy as sa


revision = '0018_invoices'
down_revision = '0017_variant_sku'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invoice_counter',
    sa.Column('territory_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['territory_id'], ['territory.id'], name=op.f('fk_invoice_counter_territory_id_territory')),
    sa.PrimaryKeyConstraint('territory_id', 'year', name=op.f('pk_invoice_counter'))
    )
    op.create_table('commission_invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('territory_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.Enum('invoice', 'credit_note', name='invoice_kind', native_enum=False, length=32), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('seller_name', sa.String(length=200), nullable=False),
    sa.Column('seller_address', sa.String(length=300), nullable=False),
    sa.Column('seller_siret', sa.String(length=14), nullable=False),
    sa.Column('seller_vat_number', sa.String(length=20), nullable=False),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('buyer_address', sa.String(length=300), nullable=False),
    sa.Column('buyer_siret', sa.String(length=14), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('ht_cents', sa.BigInteger(), nullable=False),
    sa.Column('vat_rate_bp', sa.Integer(), nullable=False),
    sa.Column('vat_cents', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_commission_invoice_settlement_id_settlement')),
    sa.ForeignKeyConstraint(['territory_id'], ['territory.id'], name=op.f('fk_commission_invoice_territory_id_territory')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_invoice')),
    sa.UniqueConstraint('settlement_id', name=op.f('uq_commission_invoice_settlement_id')),
    sa.UniqueConstraint('territory_id', 'year', 'number', name=op.f('uq_commission_invoice_territory_id_year_number'))
    )
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        # Empty on the settlements made before: they claimed up to their period's end.
        batch_op.add_column(sa.Column('sales_cutoff', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_column('sales_cutoff')

    op.drop_table('commission_invoice')
    op.drop_table('invoice_counter')
