"""automation, second part: flows (a trigger and steps), their versions, people's enrollments and
the steps each did once; a flow's email steps as campaigns; the workspace's frequency cap; a
flow email's context on its recipient row; campaigns sent at each person's best hour

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 17:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'flows',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('trigger', JSON, nullable=False),
        sa.Column('steps', JSON, nullable=False),
        sa.Column('goals', JSON, nullable=False),
        sa.Column('reentry', JSON, nullable=False),
        sa.Column('quiet_hours', JSON),
        sa.Column('recipe', sa.String(40)),
        sa.Column('version_id', sa.Integer()),
        sa.Column('activated_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
    )
    op.create_index('ix_flows_workspace_id', 'flows', ['workspace_id'])
    op.create_table(
        'flow_versions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('flow_id', sa.Integer(), sa.ForeignKey('flows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('trigger', JSON, nullable=False),
        sa.Column('steps', JSON, nullable=False),
        sa.Column('plan', JSON, nullable=False),
        sa.Column('first_step', sa.String(40)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('flow_id', 'number'),
    )
    op.create_index('ix_flow_versions_flow_id', 'flow_versions', ['flow_id'])
    op.create_table(
        'flow_enrollments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('flow_id', sa.Integer(), sa.ForeignKey('flows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('version_id', sa.Integer(), sa.ForeignKey('flow_versions.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('step_id', sa.String(40)),
        sa.Column('due_at', WHEN),
        sa.Column('context', JSON, nullable=False),
        sa.Column('cycle', sa.Integer(), nullable=False),
        sa.Column('entered_at', WHEN, nullable=False),
        sa.Column('finished_at', WHEN),
        sa.Column('exit_reason', sa.String(200)),
    )
    op.create_index('ix_flow_enrollments_subscriber_id', 'flow_enrollments', ['subscriber_id'])
    op.create_index('ix_flow_enrollments_due', 'flow_enrollments', ['status', 'due_at'])
    op.create_index('ix_flow_enrollments_flow_step', 'flow_enrollments', ['flow_id', 'status', 'step_id'])
    op.create_index(
        'uq_flow_enrollments_active', 'flow_enrollments', ['flow_id', 'subscriber_id'], unique=True,
        postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        'flow_step_runs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('enrollment_id', sa.Integer(), sa.ForeignKey('flow_enrollments.id', ondelete='CASCADE'), nullable=False),
        sa.Column('flow_id', sa.Integer(), sa.ForeignKey('flows.id', ondelete='CASCADE'), nullable=False),
        sa.Column('step_id', sa.String(40), nullable=False),
        sa.Column('outcome', sa.String(60), nullable=False),
        sa.Column('ran_at', WHEN, nullable=False),
        sa.UniqueConstraint('enrollment_id', 'step_id'),
    )
    op.create_index('ix_flow_step_runs_flow_step', 'flow_step_runs', ['flow_id', 'step_id'])
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('flow_id', sa.Integer(), sa.ForeignKey('flows.id', name='fk_campaigns_flow_id', ondelete='SET NULL')))
        batch.add_column(sa.Column('flow_version_id', sa.Integer()))
        batch.add_column(sa.Column('flow_step_id', sa.String(40)))
        batch.add_column(sa.Column('flow_cycle', sa.Integer()))
        batch.add_column(sa.Column('send_at_best_time', sa.Boolean(), nullable=False, server_default='0'))
        batch.create_index('ix_campaigns_flow_id', ['flow_id'])
        batch.create_index('uq_campaigns_flow_step', ['flow_version_id', 'flow_step_id', 'flow_cycle'], unique=True)
    with op.batch_alter_table('workspaces') as batch:
        batch.add_column(sa.Column('frequency_cap', JSON))
    with op.batch_alter_table('campaign_recipients') as batch:
        batch.add_column(sa.Column('context', JSON))


def downgrade():
    with op.batch_alter_table('campaign_recipients') as batch:
        batch.drop_column('context')
    with op.batch_alter_table('workspaces') as batch:
        batch.drop_column('frequency_cap')
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_index('uq_campaigns_flow_step')
        batch.drop_index('ix_campaigns_flow_id')
        batch.drop_column('send_at_best_time')
        batch.drop_column('flow_cycle')
        batch.drop_column('flow_step_id')
        batch.drop_column('flow_version_id')
        batch.drop_column('flow_id')
    op.drop_table('flow_step_runs')
    op.drop_table('flow_enrollments')
    op.drop_table('flow_versions')
    op.drop_table('flows')
