"""foundation fixes: session generations, provider message id look-ups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Bumped on logout, password change and "sign out everywhere": a session or remember
    # cookie carrying an older generation no longer signs anyone in.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), nullable=False, server_default='0'))

    # Provider events that carry only the provider's message id are matched on it.
    op.create_index('ix_campaign_recipients_provider_msg', 'campaign_recipients',
                    ['provider_id', 'provider_message_id'])
    op.create_index('ix_messages_provider_msg', 'messages', ['provider_id', 'provider_message_id'])


def downgrade():
    op.drop_index('ix_messages_provider_msg', table_name='messages')
    op.drop_index('ix_campaign_recipients_provider_msg', table_name='campaign_recipients')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
