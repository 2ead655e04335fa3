"""audience: segments and declared fields, tags, categories and preferences, double opt-in and
signup forms, consent and source, campaign targeting by segments and exclusions, suppression
sources and erased hashes, brand of the public pages, API key roles, invitations, audit log

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def _workspace():
    return sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False)


def upgrade():
    with op.batch_alter_table('subscribers', schema=None) as b:
        b.add_column(sa.Column('source', sa.String(20)))
        b.add_column(sa.Column('consent', JSON))
        b.add_column(sa.Column('confirmed_at', WHEN))
        b.add_column(sa.Column('erased_at', WHEN))
    op.create_table(
        'subscriber_tags',
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('tag', sa.String(100), primary_key=True),
    )
    op.create_index('ix_subscriber_tags_tag', 'subscriber_tags', ['tag'])
    op.create_table(
        'fields',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('key', sa.String(100), nullable=False),
        sa.Column('type', sa.String(10), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'key'),
    )
    op.create_index('ix_fields_workspace_id', 'fields', ['workspace_id'])
    op.create_table(
        'segments',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('rules', JSON, nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
    )
    op.create_index('ix_segments_workspace_id', 'segments', ['workspace_id'])
    op.create_table(
        'categories',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('description', sa.String(500)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('workspace_id', 'name'),
    )
    op.create_index('ix_categories_workspace_id', 'categories', ['workspace_id'])
    op.create_table(
        'subscriber_preferences',
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('category_id', sa.Integer(), sa.ForeignKey('categories.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('subscribed', sa.Boolean(), nullable=False),
        sa.Column('frequency', sa.String(10), nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
    )
    op.create_table(
        'signup_forms',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('public_id', sa.String(32), nullable=False, unique=True),
        sa.Column('fields', JSON, nullable=False),
        sa.Column('list_ids', JSON, nullable=False),
        sa.Column('tags', JSON, nullable=False),
        sa.Column('redirect_url', sa.String(1000)),
        sa.Column('thank_you_message', sa.Text()),
        sa.Column('submissions', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('created_at', WHEN, nullable=False),
    )
    op.create_index('ix_signup_forms_workspace_id', 'signup_forms', ['workspace_id'])
    with op.batch_alter_table('lists', schema=None) as b:
        b.add_column(sa.Column('double_opt_in', sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column('confirmation_template_id', sa.Integer(),
                               sa.ForeignKey('templates.id', name='fk_lists_confirmation_template', ondelete='SET NULL')))
    with op.batch_alter_table('campaigns', schema=None) as b:
        b.add_column(sa.Column('category_id', sa.Integer(),
                               sa.ForeignKey('categories.id', name='fk_campaigns_category', ondelete='SET NULL')))
    with op.batch_alter_table('campaign_lists', schema=None) as b:
        b.add_column(sa.Column('exclude', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'campaign_segments',
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('segment_id', sa.Integer(), sa.ForeignKey('segments.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('exclude', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table('suppressions', schema=None) as b:
        b.add_column(sa.Column('source', sa.String(40)))
        b.add_column(sa.Column('email_hash', sa.String(64)))
        b.create_index('ix_suppressions_email_hash', ['email_hash'])
    with op.batch_alter_table('workspaces', schema=None) as b:
        b.add_column(sa.Column('logo_url', sa.String(1000)))
        b.add_column(sa.Column('brand_color', sa.String(7)))
        b.add_column(sa.Column('suppress_role_addresses', sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column('unconfirmed_purge_days', sa.Integer(), nullable=False, server_default='7'))
    with op.batch_alter_table('api_keys', schema=None) as b:
        b.add_column(sa.Column('role', sa.String(20), nullable=False, server_default='owner'))
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('email', sa.String(320), nullable=False),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('invited_by_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL')),
        sa.Column('expires_at', WHEN, nullable=False),
        sa.Column('accepted_at', WHEN),
        sa.Column('revoked_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
    )
    op.create_index('ix_invitations_workspace_id', 'invitations', ['workspace_id'])
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL')),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_keys.id', ondelete='SET NULL')),
        sa.Column('actor', sa.String(320), nullable=False),
        sa.Column('action', sa.String(60), nullable=False),
        sa.Column('subject_type', sa.String(40)),
        sa.Column('subject_id', sa.Integer()),
        sa.Column('detail', JSON),
        sa.Column('ip', sa.String(64)),
        sa.Column('created_at', WHEN, nullable=False),
    )
    op.create_index('ix_audit_log_ws_created', 'audit_log', ['workspace_id', 'created_at'])


def downgrade():
    op.drop_index('ix_audit_log_ws_created', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_invitations_workspace_id', table_name='invitations')
    op.drop_table('invitations')
    with op.batch_alter_table('api_keys', schema=None) as b:
        b.drop_column('role')
    with op.batch_alter_table('workspaces', schema=None) as b:
        for name in ('unconfirmed_purge_days', 'suppress_role_addresses', 'brand_color', 'logo_url'):
            b.drop_column(name)
    with op.batch_alter_table('suppressions', schema=None) as b:
        b.drop_index('ix_suppressions_email_hash')
        b.drop_column('email_hash')
        b.drop_column('source')
    op.drop_table('campaign_segments')
    with op.batch_alter_table('campaign_lists', schema=None) as b:
        b.drop_column('exclude')
    with op.batch_alter_table('campaigns', schema=None) as b:
        b.drop_constraint('fk_campaigns_category', type_='foreignkey')
        b.drop_column('category_id')
    with op.batch_alter_table('lists', schema=None) as b:
        b.drop_constraint('fk_lists_confirmation_template', type_='foreignkey')
        b.drop_column('confirmation_template_id')
        b.drop_column('double_opt_in')
    op.drop_index('ix_signup_forms_workspace_id', table_name='signup_forms')
    op.drop_table('signup_forms')
    op.drop_table('subscriber_preferences')
    op.drop_index('ix_categories_workspace_id', table_name='categories')
    op.drop_table('categories')
    op.drop_index('ix_segments_workspace_id', table_name='segments')
    op.drop_table('segments')
    op.drop_index('ix_fields_workspace_id', table_name='fields')
    op.drop_table('fields')
    op.drop_index('ix_subscriber_tags_tag', table_name='subscriber_tags')
    op.drop_table('subscriber_tags')
    with op.batch_alter_table('subscribers', schema=None) as b:
        for name in ('erased_at', 'confirmed_at', 'consent', 'source'):
            b.drop_column(name)
