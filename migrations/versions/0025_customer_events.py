"""automation, first part: customer events reported through the API (carts, orders, wishlists,
milestones, custom), the product catalogue, and the people watching a product (wishlist, restock)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 17:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'customer_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('type', sa.String(60), nullable=False),
        sa.Column('properties', JSON, nullable=False),
        sa.Column('occurred_at', WHEN, nullable=False),
        sa.Column('received_at', WHEN, nullable=False),
        sa.Column('idempotency_key', sa.String(200)),
        sa.Column('source', sa.String(10), nullable=False),
        sa.UniqueConstraint('workspace_id', 'idempotency_key'),
    )
    op.create_index('ix_customer_events_person', 'customer_events', ['subscriber_id', 'occurred_at'])
    op.create_index('ix_customer_events_type', 'customer_events', ['workspace_id', 'type', 'occurred_at'])
    op.create_table(
        'products',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('sku', sa.String(100), nullable=False),
        sa.Column('name', sa.String(300), nullable=False),
        sa.Column('url', sa.String(2000)),
        sa.Column('image_url', sa.String(2000)),
        sa.Column('price', sa.Numeric(14, 2), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('in_stock', sa.Boolean(), nullable=False),
        sa.Column('inventory', sa.Integer()),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'sku'),
    )
    op.create_table(
        'product_watches',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('price_at', sa.Numeric(14, 2)),
        sa.Column('notified_price', sa.Numeric(14, 2)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('subscriber_id', 'product_id', 'kind'),
    )
    op.create_index('ix_product_watches_product_id', 'product_watches', ['product_id'])


def downgrade():
    op.drop_table('product_watches')
    op.drop_table('products')
    op.drop_index('ix_customer_events_type', table_name='customer_events')
    op.drop_index('ix_customer_events_person', table_name='customer_events')
    op.drop_table('customer_events')
