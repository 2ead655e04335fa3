"""a/b tests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 17:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        'campaign_variants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=1), nullable=False),
        sa.Column('subject', sa.String(length=500), nullable=True),
        sa.Column('from_name', sa.String(length=200), nullable=True),
        sa.Column('preview_text', sa.String(length=500), nullable=True),
        sa.Column('template_id', sa.Integer(), nullable=True),
        sa.Column('snapshot', JSON, nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['template_id'], ['templates.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'label'),
    )
    with op.batch_alter_table('campaign_variants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_variants_campaign_id'), ['campaign_id'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ab_test', JSON, nullable=True))
        batch_op.add_column(sa.Column('ab_phase', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('ab_wait_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('winner_variant_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ab_result', JSON, nullable=True))
        batch_op.create_index(batch_op.f('ix_campaigns_ab_phase'), ['ab_phase'], unique=False)

    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_campaign_recipients_variant_id', 'campaign_variants', ['variant_id'], ['id'], ondelete='SET NULL'
        )


def downgrade():
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaign_recipients_variant_id', type_='foreignkey')
        batch_op.drop_column('variant_id')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_ab_phase'))
        batch_op.drop_column('ab_result')
        batch_op.drop_column('winner_variant_id')
        batch_op.drop_column('ab_wait_until')
        batch_op.drop_column('ab_phase')
        batch_op.drop_column('ab_test')

    with op.batch_alter_table('campaign_variants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_variants_campaign_id'))

    op.drop_table('campaign_variants')
