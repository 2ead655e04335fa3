"""opens and clicks carry a verdict (human, proxy, apple_mpp, scanner, unknown); recipients keep their
first human open and click beside the raw ones

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verdict', sa.String(12)))
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('human_opened_at', WHEN))
        batch_op.add_column(sa.Column('human_clicked_at', WHEN))
    # Opens and clicks recorded before verdicts existed were never judged: they stay what they were
    # (people) until `flask --app wsgi reclassify-engagement` judges them from their stored signals.
    op.execute('UPDATE campaign_recipients SET human_opened_at = opened_at, human_clicked_at = clicked_at '
               'WHERE opened_at IS NOT NULL OR clicked_at IS NOT NULL')


def downgrade():
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('human_clicked_at')
        batch_op.drop_column('human_opened_at')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('verdict')
