"""campaign recipients keep the identity a pool chose to send each of them from

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 08:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # No foreign key, like provider_id: a row keeps the id it was sent as, even after the identity goes.
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_id', sa.Integer()))


def downgrade():
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('identity_id')
