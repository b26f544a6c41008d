"""cityzens: residents who recommend products, the clicks on their shared links and
the reward each order line bought through one earns (credited to the wallet in the ledger)

Revision ID: 0021_cityzens
Revises: 0020_wallet_spending
Create Date: 2026-11-24 12:32:35
"""

from alembic import op
import sqlalchemy as sa


revision = '0021_cityzens'
down_revision = "0020_wallet_spending"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cityzen',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('opted_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_cityzen_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cityzen')),
    sa.UniqueConstraint('user_id', name=op.f('uq_cityzen_user_id'))
    )
    op.create_table('recommendation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cityzen_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=280), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cityzen_id'], ['cityzen.id'], name=op.f('fk_recommendation_cityzen_id_cityzen'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_recommendation_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation')),
    sa.UniqueConstraint('cityzen_id', 'product_id', name=op.f('uq_recommendation_cityzen_id_product_id')),
    sa.UniqueConstraint('code', name=op.f('uq_recommendation_code'))
    )
    with op.batch_alter_table('recommendation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommendation_product_id'), ['product_id'], unique=False)

    op.create_table('referral_click',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recommendation_id', sa.Integer(), nullable=False),
    sa.Column('visitor', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recommendation_id'], ['recommendation.id'], name=op.f('fk_referral_click_recommendation_id_recommendation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_referral_click_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_click'))
    )
    with op.batch_alter_table('referral_click', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_click_recommendation_id'), ['recommendation_id'], unique=False)
        batch_op.create_index('ix_referral_click_user_id_clicked_at', ['user_id', 'clicked_at'], unique=False)
        batch_op.create_index('ix_referral_click_visitor_clicked_at', ['visitor', 'clicked_at'], unique=False)

    op.create_table('attribution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub_order_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('recommendation_id', sa.Integer(), nullable=True),
    sa.Column('cityzen_user_id', sa.Integer(), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'credited', 'void', 'reversed', name='attribution_status', native_enum=False, length=32), nullable=False),
    sa.Column('eligible_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reward_cents', sa.Integer(), nullable=False),
    sa.Column('reversed_cents', sa.Integer(), nullable=False),
    sa.Column('credited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cityzen_user_id'], ['user_account.id'], name=op.f('fk_attribution_cityzen_user_id_user_account')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_attribution_order_line_id_order_line'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recommendation_id'], ['recommendation.id'], name=op.f('fk_attribution_recommendation_id_recommendation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sub_order_id'], ['sub_order.id'], name=op.f('fk_attribution_sub_order_id_sub_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution')),
    sa.UniqueConstraint('order_line_id', name=op.f('uq_attribution_order_line_id'))
    )
    with op.batch_alter_table('attribution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attribution_cityzen_user_id'), ['cityzen_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attribution_eligible_at'), ['eligible_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_attribution_recommendation_id'), ['recommendation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attribution_sub_order_id'), ['sub_order_id'], unique=False)



def downgrade():
    with op.batch_alter_table('attribution', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attribution_sub_order_id'))
        batch_op.drop_index(batch_op.f('ix_attribution_recommendation_id'))
        batch_op.drop_index(batch_op.f('ix_attribution_eligible_at'))
        batch_op.drop_index(batch_op.f('ix_attribution_cityzen_user_id'))

    op.drop_table('attribution')
    with op.batch_alter_table('referral_click', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_click_visitor_clicked_at')
        batch_op.drop_index('ix_referral_click_user_id_clicked_at')
        batch_op.drop_index(batch_op.f('ix_referral_click_recommendation_id'))

    op.drop_table('referral_click')
    with op.batch_alter_table('recommendation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommendation_product_id'))

    op.drop_table('recommendation')
    op.drop_table('cityzen')
