"""sms: subscribers' phone and consent to texts, SMS campaigns and recipients, status callbacks,
inbound texts and opted-out numbers, the workspace's SMS settings

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 19:45:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def _workspace(primary_key=False):
    return sa.Column(
        'workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'),
        nullable=False, primary_key=primary_key,
    )


def upgrade():
    with op.batch_alter_table('subscribers') as batch:
        batch.add_column(sa.Column('phone', sa.String(16)))
        batch.add_column(sa.Column('sms_status', sa.String(12), nullable=False, server_default='none'))
        batch.add_column(sa.Column('sms_consent', JSON))
    op.create_index('ix_subscribers_ws_phone', 'subscribers', ['workspace_id', 'phone'])
    with op.batch_alter_table('workspaces') as batch:
        batch.add_column(sa.Column('sms_settings', JSON))

    op.create_table(
        'sms_campaigns',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('provider_id', sa.Integer(), sa.ForeignKey('providers.id', ondelete='SET NULL')),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('audience', JSON, nullable=False),
        sa.Column('quiet_hours', sa.Boolean(), nullable=False),
        sa.Column('estimate', JSON),
        sa.Column('total_recipients', sa.Integer(), nullable=False),
        sa.Column('send_round', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text()),
        sa.Column('scheduled_at', WHEN),
        sa.Column('started_at', WHEN),
        sa.Column('paused_at', WHEN),
        sa.Column('completed_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('flow_id', sa.Integer(), sa.ForeignKey('flows.id', ondelete='SET NULL')),
        sa.Column('flow_version_id', sa.Integer()),
        sa.Column('flow_step_id', sa.String(40)),
        sa.Column('flow_cycle', sa.Integer()),
        sa.UniqueConstraint('flow_id', 'flow_version_id', 'flow_step_id', 'flow_cycle'),
    )
    op.create_index('ix_sms_campaigns_workspace_id', 'sms_campaigns', ['workspace_id'])
    op.create_index('ix_sms_campaigns_status', 'sms_campaigns', ['status'])
    op.create_index('ix_sms_campaigns_scheduled_at', 'sms_campaigns', ['scheduled_at'])
    op.create_index('ix_sms_campaigns_flow_id', 'sms_campaigns', ['flow_id'])

    op.create_table(
        'sms_recipients',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('sms_campaigns.id', ondelete='CASCADE'), nullable=False),
        _workspace(),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('phone', sa.String(16), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('skip_reason', sa.String(40)),
        sa.Column('twilio_status', sa.String(16)),
        sa.Column('status_rank', sa.SmallInteger(), nullable=False),
        sa.Column('message_sid', sa.String(64), unique=True),
        sa.Column('sender', sa.String(40)),
        sa.Column('body', sa.Text()),
        sa.Column('segments', sa.SmallInteger()),
        sa.Column('encoding', sa.String(5)),
        sa.Column('error_code', sa.Integer()),
        sa.Column('error_message', sa.String(500)),
        sa.Column('not_before', WHEN),
        sa.Column('context', JSON),
        sa.Column('claimed_at', WHEN),
        sa.Column('sent_at', WHEN),
        sa.Column('delivered_at', WHEN),
        sa.Column('updated_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('campaign_id', 'subscriber_id'),
    )
    op.create_index('ix_sms_recipients_subscriber_id', 'sms_recipients', ['subscriber_id'])
    op.create_index('ix_sms_recipients_campaign_status', 'sms_recipients', ['campaign_id', 'status'])

    op.create_table(
        'sms_status_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('recipient_id', sa.Integer(), sa.ForeignKey('sms_recipients.id', ondelete='CASCADE')),
        sa.Column('message_sid', sa.String(64), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('error_code', sa.Integer()),
        sa.Column('received_at', WHEN, nullable=False),
        sa.UniqueConstraint('message_sid', 'status'),
    )
    op.create_index('ix_sms_status_events_workspace_id', 'sms_status_events', ['workspace_id'])
    op.create_index('ix_sms_status_events_recipient_id', 'sms_status_events', ['recipient_id'])

    op.create_table(
        'sms_inbound',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('provider_id', sa.Integer(), sa.ForeignKey('providers.id', ondelete='SET NULL')),
        sa.Column('message_sid', sa.String(64), nullable=False, unique=True),
        sa.Column('from_phone', sa.String(32), nullable=False),
        sa.Column('to_phone', sa.String(32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='SET NULL')),
        sa.Column('keyword', sa.String(10)),
        sa.Column('answer', sa.Text()),
        sa.Column('received_at', WHEN, nullable=False),
    )
    op.create_index('ix_sms_inbound_subscriber_id', 'sms_inbound', ['subscriber_id'])
    op.create_index('ix_sms_inbound_workspace_received', 'sms_inbound', ['workspace_id', 'received_at'])

    op.create_table(
        'sms_opt_outs',
        _workspace(primary_key=True),
        sa.Column('phone', sa.String(16), primary_key=True),
        sa.Column('source', sa.String(20), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
    )


def downgrade():
    op.drop_table('sms_opt_outs')
    op.drop_index('ix_sms_inbound_workspace_received', table_name='sms_inbound')
    op.drop_index('ix_sms_inbound_subscriber_id', table_name='sms_inbound')
    op.drop_table('sms_inbound')
    op.drop_index('ix_sms_status_events_recipient_id', table_name='sms_status_events')
    op.drop_index('ix_sms_status_events_workspace_id', table_name='sms_status_events')
    op.drop_table('sms_status_events')
    op.drop_index('ix_sms_recipients_campaign_status', table_name='sms_recipients')
    op.drop_index('ix_sms_recipients_subscriber_id', table_name='sms_recipients')
    op.drop_table('sms_recipients')
    op.drop_index('ix_sms_campaigns_flow_id', table_name='sms_campaigns')
    op.drop_index('ix_sms_campaigns_scheduled_at', table_name='sms_campaigns')
    op.drop_index('ix_sms_campaigns_status', table_name='sms_campaigns')
    op.drop_index('ix_sms_campaigns_workspace_id', table_name='sms_campaigns')
    op.drop_table('sms_campaigns')
    with op.batch_alter_table('workspaces') as batch:
        batch.drop_column('sms_settings')
    op.drop_index('ix_subscribers_ws_phone', table_name='subscribers')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_column('sms_consent')
        batch.drop_column('sms_status')
        batch.drop_column('phone')
