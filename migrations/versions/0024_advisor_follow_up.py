"""the advisor, continued: each sending domain's domain-blocklist answers (Spamhaus DBL, SURBL, URIBL),
what followed an applied fix (its outcome), and one copy per DMARC report however often it arrives

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 16:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table('sending_domains') as batch:
        batch.add_column(sa.Column('blocklists', JSON, nullable=False, server_default='[]'))
        batch.add_column(sa.Column('blocklists_checked_at', WHEN))
    with op.batch_alter_table('advisor_recommendations') as batch:
        batch.add_column(sa.Column('outcome', JSON))
    # Reports stored twice by a race before this constraint: keep the first of each.
    op.execute(
        "DELETE FROM dmarc_reports WHERE status = 'parsed' AND id NOT IN ("
        " SELECT MIN(id) FROM dmarc_reports WHERE status = 'parsed' GROUP BY domain_id, org_name, report_id)"
    )
    op.create_index(
        'uq_dmarc_reports_domain_report', 'dmarc_reports', ['domain_id', 'org_name', 'report_id'], unique=True
    )


def downgrade():
    op.drop_index('uq_dmarc_reports_domain_report', table_name='dmarc_reports')
    with op.batch_alter_table('advisor_recommendations') as batch:
        batch.drop_column('outcome')
    with op.batch_alter_table('sending_domains') as batch:
        batch.drop_column('blocklists_checked_at')
        batch.drop_column('blocklists')
