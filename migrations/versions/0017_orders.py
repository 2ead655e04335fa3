"""orders reported by the shop, attributed to the campaign a person last clicked; each workspace's
attribution window

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'orders',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('external_id', sa.String(200), nullable=False),
        sa.Column('email', sa.String(320), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='SET NULL')),
        sa.Column('amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('items', JSON),
        sa.Column('placed_at', WHEN, nullable=False),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id', ondelete='SET NULL')),
        sa.Column('recipient_id', sa.Integer()),
        sa.Column('attributed_by', sa.String(10)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'external_id'),
    )
    op.create_index('ix_orders_subscriber_id', 'orders', ['subscriber_id'])
    op.create_index('ix_orders_campaign_id', 'orders', ['campaign_id'])
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attribution_click_days', sa.Integer(), nullable=False, server_default='5'))
        batch_op.add_column(sa.Column('attribution_open_hours', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('attribution_open_hours')
        batch_op.drop_column('attribution_click_days')
    op.drop_index('ix_orders_campaign_id', table_name='orders')
    op.drop_index('ix_orders_subscriber_id', table_name='orders')
    op.drop_table('orders')
