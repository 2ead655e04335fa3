"""warming plans, days and custom schedules; campaigns and templates pick a sending identity

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        'warming_schedules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('steps', JSON, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('workspace_id', 'name'),
    )
    op.create_index('ix_warming_schedules_workspace_id', 'warming_schedules', ['workspace_id'])

    op.create_table(
        'warming_plans',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subject_type', sa.String(20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('schedule', sa.String(40), nullable=False),
        sa.Column('steps', JSON, nullable=False),
        sa.Column('interpolate', sa.Boolean(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('start_day', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('paused_reason', sa.Text()),
        sa.Column('paused_on', sa.Date()),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('subject_type', 'subject_id'),
    )
    op.create_index('ix_warming_plans_workspace_id', 'warming_plans', ['workspace_id'])

    op.create_table(
        'warming_days',
        sa.Column('plan_id', sa.Integer(), sa.ForeignKey('warming_plans.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('day', sa.Date(), primary_key=True),
        sa.Column('limit', sa.Integer()),
        sa.Column('released', sa.Integer(), nullable=False),
    )

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_id', sa.Integer()))
        batch_op.create_foreign_key('fk_campaigns_identity_id', 'sending_identities', ['identity_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_id', sa.Integer()))
        batch_op.create_foreign_key('fk_templates_identity_id', 'sending_identities', ['identity_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_constraint('fk_templates_identity_id', type_='foreignkey')
        batch_op.drop_column('identity_id')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaigns_identity_id', type_='foreignkey')
        batch_op.drop_column('identity_id')
    op.drop_table('warming_days')
    op.drop_index('ix_warming_plans_workspace_id', table_name='warming_plans')
    op.drop_table('warming_plans')
    op.drop_index('ix_warming_schedules_workspace_id', table_name='warming_schedules')
    op.drop_table('warming_schedules')
