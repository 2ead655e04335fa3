"""dedicated IPs, sending pools and their members, daily health scores; campaigns and templates pick a pool;
messages keep how they authenticated

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'dedicated_ips',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('ip_address', sa.String(45), nullable=False),
        sa.Column('hostname', sa.String(255)),
        sa.Column('provider_id', sa.Integer(), sa.ForeignKey('providers.id', ondelete='SET NULL')),
        sa.Column('pool_name', sa.String(100)),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('status_reason', sa.Text()),
        sa.Column('ptr', sa.String(255)),
        sa.Column('fcrdns', sa.Boolean()),
        sa.Column('blocklists', JSON, nullable=False),
        sa.Column('checked_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'ip_address'),
    )
    op.create_index('ix_dedicated_ips_workspace_id', 'dedicated_ips', ['workspace_id'])

    op.create_table(
        'sending_pools',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('strategy', sa.String(20), nullable=False),
        sa.Column('default_for', sa.String(20)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'name'),
    )
    op.create_index('ix_sending_pools_workspace_id', 'sending_pools', ['workspace_id'])

    op.create_table(
        'pool_members',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('pool_id', sa.Integer(), sa.ForeignKey('sending_pools.id', ondelete='CASCADE'), nullable=False),
        sa.Column('member_type', sa.String(20), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.UniqueConstraint('pool_id', 'member_type', 'member_id'),
    )
    op.create_index('ix_pool_members_pool_id', 'pool_members', ['pool_id'])

    op.create_table(
        'health_scores',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subject_type', sa.String(20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('tier', sa.String(20), nullable=False),
        sa.Column('components', JSON, nullable=False),
        sa.UniqueConstraint('subject_type', 'subject_id', 'day'),
    )
    op.create_index('ix_health_scores_workspace_id', 'health_scores', ['workspace_id'])

    # How a transactional message authenticated when it was handed off (DKIM d=, envelope, alignment).
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authentication', JSON))

    for table in ('campaigns', 'templates'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('pool_id', sa.Integer()))
            batch_op.create_foreign_key(f'fk_{table}_pool_id', 'sending_pools', ['pool_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('authentication')
    for table in ('templates', 'campaigns'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_pool_id', type_='foreignkey')
            batch_op.drop_column('pool_id')
    for table in ('health_scores', 'pool_members', 'sending_pools', 'dedicated_ips'):
        op.drop_index(f'ix_{table}_{"pool_id" if table == "pool_members" else "workspace_id"}', table_name=table)
        op.drop_table(table)
