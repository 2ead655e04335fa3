"""the advisor: recommendations (open, applied, dismissed, resolved) and DMARC aggregate reports;
a campaign keeps an owner's override of a blocking finding

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 14:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'advisor_recommendations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('check', sa.String(60), nullable=False),
        sa.Column('subject_type', sa.String(20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('severity', sa.String(10), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('evidence', JSON, nullable=False),
        sa.Column('fix', JSON),
        sa.Column('measure', sa.Float(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('dismissed_reason', sa.String(500)),
        sa.Column('dismissed_measure', sa.Float()),
        sa.Column('applied_at', WHEN),
        sa.Column('applied_by', sa.String(320)),
        sa.Column('effect', JSON),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('resolved_at', WHEN),
        sa.UniqueConstraint('workspace_id', 'check', 'subject_type', 'subject_id'),
    )
    op.create_index('ix_advisor_recommendations_ws_status', 'advisor_recommendations', ['workspace_id', 'status'])
    op.create_table(
        'dmarc_reports',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False),
        sa.Column('domain_id', sa.Integer(), sa.ForeignKey('sending_domains.id', ondelete='CASCADE')),
        sa.Column('org_name', sa.String(255)),
        sa.Column('report_id', sa.String(255)),
        sa.Column('begin', WHEN),
        sa.Column('end', WHEN),
        sa.Column('policy', JSON),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('error', sa.Text()),
        sa.Column('source', sa.String(10), nullable=False),
        sa.Column('filename', sa.String(255)),
        sa.Column('raw', sa.LargeBinary()),
        sa.Column('created_at', WHEN, nullable=False),
    )
    op.create_index('ix_dmarc_reports_workspace_id', 'dmarc_reports', ['workspace_id'])
    op.create_index('ix_dmarc_reports_domain_id', 'dmarc_reports', ['domain_id'])
    op.create_table(
        'dmarc_records',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('report_id', sa.Integer(), sa.ForeignKey('dmarc_reports.id', ondelete='CASCADE'), nullable=False),
        sa.Column('source_ip', sa.String(64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('disposition', sa.String(20)),
        sa.Column('dkim', sa.String(10)),
        sa.Column('spf', sa.String(10)),
        sa.Column('header_from', sa.String(255)),
        sa.Column('auth', JSON),
        sa.Column('aligned', sa.Boolean(), nullable=False),
        sa.Column('known_source', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_dmarc_records_report_id', 'dmarc_records', ['report_id'])
    with op.batch_alter_table('campaigns', schema=None) as b:
        b.add_column(sa.Column('advisor_override', JSON))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as b:
        b.drop_column('advisor_override')
    op.drop_index('ix_dmarc_records_report_id', table_name='dmarc_records')
    op.drop_table('dmarc_records')
    op.drop_index('ix_dmarc_reports_domain_id', table_name='dmarc_reports')
    op.drop_index('ix_dmarc_reports_workspace_id', table_name='dmarc_reports')
    op.drop_table('dmarc_reports')
    op.drop_index('ix_advisor_recommendations_ws_status', table_name='advisor_recommendations')
    op.drop_table('advisor_recommendations')
