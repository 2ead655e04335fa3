"""hourly rollups of every campaign's figures (insight_hours), counted from what is already stored

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:40:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

METRICS = (
    "sent",
    "delivered",
    "failed",
    "bounced",
    "hard_bounced",
    "deferred",
    "opens",
    "human_opens",
    "unique_opens",
    "human_unique_opens",
    "clicks",
    "human_clicks",
    "unique_clicks",
    "human_unique_clicks",
    "replies",
    "unsubscribes",
    "complaints",
)


def upgrade():
    op.create_table(
        "insight_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailbox_provider", sa.String(length=40), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        *(sa.Column(m, sa.Integer(), nullable=False) for m in METRICS),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "hour", "mailbox_provider", "identity_id"),
    )
    op.create_index("ix_insight_hours_workspace_hour", "insight_hours", ["workspace_id", "hour"], unique=False)
    # What campaigns already sent and gathered, counted once from their rows (set-based).
    from app.services.events import rollups

    rollups.rebuild(session=Session(bind=op.get_bind()))


def downgrade():
    op.drop_index("ix_insight_hours_workspace_hour", table_name="insight_hours")
    op.drop_table("insight_hours")
