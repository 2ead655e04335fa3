"""deliverability: sending domains, DKIM keys, identities, the MX cache, alerts; recipients' mailbox provider

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        'sending_domains',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('domain', sa.String(255), nullable=False),
        sa.Column('return_path_subdomain', sa.String(63), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('status_reason', sa.Text()),
        sa.Column('checks', JSON, nullable=False),
        sa.Column('dmarc_policy', sa.String(20)),
        sa.Column('verified_at', sa.DateTime(timezone=True)),
        sa.Column('checked_at', sa.DateTime(timezone=True)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('workspace_id', 'domain'),
    )
    op.create_index('ix_sending_domains_workspace_id', 'sending_domains', ['workspace_id'])

    op.create_table(
        'dkim_keys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sending_domain_id', sa.Integer(), sa.ForeignKey('sending_domains.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('selector', sa.String(63), nullable=False),
        sa.Column('private_key_encrypted', sa.Text(), nullable=False),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True)),
        sa.Column('signing_since', sa.DateTime(timezone=True)),
        sa.Column('retire_after', sa.DateTime(timezone=True)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('sending_domain_id', 'selector'),
    )
    op.create_index('ix_dkim_keys_sending_domain_id', 'dkim_keys', ['sending_domain_id'])

    op.create_table(
        'sending_identities',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('sending_domain_id', sa.Integer(), sa.ForeignKey('sending_domains.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('email', sa.String(320), nullable=False),
        sa.Column('display_name', sa.String(200), nullable=False),
        sa.Column('reply_to', sa.String(320)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('workspace_id', 'email'),
    )
    op.create_index('ix_sending_identities_workspace_id', 'sending_identities', ['workspace_id'])
    op.create_index('ix_sending_identities_sending_domain_id', 'sending_identities', ['sending_domain_id'])

    op.create_table(
        'mailbox_domains',
        sa.Column('domain', sa.String(255), primary_key=True),
        sa.Column('provider', sa.String(40), nullable=False),
        sa.Column('group', sa.String(40), nullable=False),
        sa.Column('mx', sa.String(255)),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(40), nullable=False),
        sa.Column('severity', sa.String(20), nullable=False),
        sa.Column('subject_type', sa.String(20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('evidence', JSON, nullable=False),
        sa.Column('action_label', sa.String(80)),
        sa.Column('action_url', sa.String(500)),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True)),
    )
    op.create_index('ix_alerts_workspace_status', 'alerts', ['workspace_id', 'status'])

    # Figures split by Gmail, Microsoft, Yahoo, Apple…: written set-based at materialization.
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailbox_provider', sa.String(40)))


def downgrade():
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('mailbox_provider')
    op.drop_index('ix_alerts_workspace_status', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('mailbox_domains')
    op.drop_table('sending_identities')
    op.drop_table('dkim_keys')
    op.drop_table('sending_domains')
