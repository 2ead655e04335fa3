"""a campaign may hold out a share of its audience (never sent) to measure what it earned

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holdout_percent', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('holdout_percent')
