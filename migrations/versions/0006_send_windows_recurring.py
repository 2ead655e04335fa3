"""send windows and recurring campaigns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 17:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        # {"days": [0..6], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin" | "recipient"}
        batch_op.add_column(sa.Column('send_window', JSON, nullable=True))
        # {"frequency": "daily"|"weekly"|"monthly", "days", "day_of_month", "time", "timezone", "until"}
        batch_op.add_column(sa.Column('recurrence', JSON, nullable=True))
        # A run of a recurring campaign points at the campaign that holds the schedule.
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            'fk_campaigns_parent_id_campaigns', 'campaigns', ['parent_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index(batch_op.f('ix_campaigns_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_next_run_at'), ['next_run_at'], unique=False)


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_next_run_at'))
        batch_op.drop_index(batch_op.f('ix_campaigns_parent_id'))
        batch_op.drop_constraint('fk_campaigns_parent_id_campaigns', type_='foreignkey')
        batch_op.drop_column('next_run_at')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('recurrence')
        batch_op.drop_column('send_window')
