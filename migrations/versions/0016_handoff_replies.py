"""campaign recipients and transactional messages keep the reply their hand-off got (the SMTP
server's 250 line, an API's answer), for the message trail

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


def downgrade():
    for table in ('messages', 'campaign_recipients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('handoff_reply')
