"""campaign recipients and transactional messages keep the reply their hand-off got (the SMTP
server's 250 line, an API's answer), for the message trail; recipients by address and events by
recipient are indexed (message search, the engagement drain)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('campaign_recipients', 'messages'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('handoff_reply', sa.String(500)))
    op.create_index('ix_campaign_recipients_email', 'campaign_recipients', ['email'])
    op.create_index('ix_events_recipient_id', 'events', ['recipient_id'])


def downgrade():
    op.drop_index('ix_events_recipient_id', table_name='events')
    op.drop_index('ix_campaign_recipients_email', table_name='campaign_recipients')
    for table in ('messages', 'campaign_recipients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('handoff_reply')
