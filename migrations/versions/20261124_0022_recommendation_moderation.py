"""recommendation moderation: the collectivité hides a Cityzen's recommendation
(when, why and by whom); a hidden one is treated as withdrawn

Revision ID: 0022_recommendation_moderation
Revises: 0021_cityzens
Create Date: 2026-11-24 13:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0022_recommendation_moderation"
down_revision = "0021_cityzens"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("recommendation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hidden_reason", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("hidden_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_recommendation_hidden_by_id_user_account"),
            "user_account",
            ["hidden_by_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("recommendation", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_recommendation_hidden_by_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_column("hidden_by_id")
        batch_op.drop_column("hidden_reason")
        batch_op.drop_column("hidden_at")
