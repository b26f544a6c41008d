"""wallet spending: the part of an order paid with the resident's wallet credit, and
the part of a refund given back to it

Revision ID: 0020_wallet_spending
Revises: 0019_settlement_progress
Create Date: 2026-11-24 12:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0020_wallet_spending"
down_revision = "0019_settlement_progress"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wallet_cents", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            op.f("ck_customer_order_wallet_cents"), "wallet_cents >= 0"
        )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wallet_cents", sa.Integer(), nullable=False, server_default="0")
        )
        # amount_cents stays the whole refund (> 0): the wallet part is inside it.
        batch_op.create_check_constraint(
            op.f("ck_refund_wallet_cents"), "wallet_cents >= 0 AND wallet_cents <= amount_cents"
        )
    # Existing rows have their 0; new rows get theirs from the application.
    for table in ("customer_order", "refund"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("wallet_cents", server_default=None)


def downgrade():
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_refund_wallet_cents"), type_="check")
        batch_op.drop_column("wallet_cents")
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_customer_order_wallet_cents"), type_="check")
        batch_op.drop_column("wallet_cents")
