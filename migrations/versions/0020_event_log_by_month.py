"""the event log partitioned by month on PostgreSQL; event keys claimed in a table of their own;
outbound webhook deliveries keep their event's id without a foreign key

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 11:00:00

On PostgreSQL the log is copied into a partitioned table (a partition per month from its oldest event
to two months ahead, and a DEFAULT partition): on a big installation, run it in a quiet hour.
"""
from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade():
    op.create_table(
        'event_keys',
        sa.Column('event_key', sa.String(length=128), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('event_key'),
    )
    op.execute("INSERT INTO event_keys (event_key, occurred_at) SELECT event_key, occurred_at FROM events")
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('webhook_deliveries', naming_convention=_NAMES) as batch_op:
            batch_op.drop_constraint('fk_webhook_deliveries_event_id_events', type_='foreignkey')
        with op.batch_alter_table('events', naming_convention=_NAMES) as batch_op:
            batch_op.drop_constraint('uq_events_event_key', type_='unique')
        return
    op.execute("ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_event_id_fkey")
    _partition_events()


def _partition_events():
    """Copy the log into a table partitioned by month (occurred_at), with the same columns, indexes and
    foreign keys; the primary key becomes (id, occurred_at), as PostgreSQL requires of a partition key."""
    conn = op.get_bind()
    old_indexes = [r[0] for r in conn.execute(sa.text(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'events' AND indexname LIKE 'ix_events_%'"))]
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    for name in old_indexes:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_unpartitioned")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.execute("CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at)")
    op.execute("ALTER TABLE events ADD PRIMARY KEY (id, occurred_at)")
    for column, table, action in (('workspace_id', 'workspaces', 'CASCADE'), ('campaign_id', 'campaigns', 'CASCADE'),
                                  ('recipient_id', 'campaign_recipients', 'CASCADE'),
                                  ('subscriber_id', 'subscribers', 'CASCADE'), ('link_id', 'links', 'SET NULL'),
                                  ('message_id', 'messages', 'CASCADE')):
        op.execute(f"ALTER TABLE events ADD CONSTRAINT events_{column}_fkey FOREIGN KEY ({column}) "
                   f"REFERENCES {table} (id) ON DELETE {action}")
    op.execute("CREATE INDEX ix_events_campaign_type ON events (campaign_id, event_type)")
    op.execute("CREATE INDEX ix_events_workspace_time ON events (workspace_id, occurred_at)")
    op.execute("CREATE INDEX ix_events_recipient_id ON events (recipient_id)")
    op.execute("CREATE INDEX ix_events_subscriber_id ON events (subscriber_id)")
    op.execute("CREATE INDEX ix_events_message_id ON events (message_id)")
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    oldest = conn.execute(sa.text("SELECT min(occurred_at) FROM events_unpartitioned")).scalar()
    from app.services.events import partitions

    session = Session(bind=conn)
    today = datetime.now(timezone.utc).date()
    first = date(oldest.year, oldest.month, 1) if oldest else date(today.year, today.month, 1)
    while first <= date(today.year, today.month, 1):
        partitions.make_month(session, first)
        first = partitions.add_months(first, 1)
    partitions.ensure(session, today)
    op.execute("INSERT INTO events SELECT * FROM events_unpartitioned")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("DROP TABLE events_unpartitioned")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE TABLE events_flat (LIKE events INCLUDING DEFAULTS)")
        op.execute("INSERT INTO events_flat SELECT * FROM events")
        op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
        op.execute("DROP TABLE events CASCADE")
        op.execute("ALTER TABLE events_flat RENAME TO events")
        op.execute("ALTER TABLE events ADD PRIMARY KEY (id)")
        op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
        for column, table, action in (('workspace_id', 'workspaces', 'CASCADE'),
                                      ('campaign_id', 'campaigns', 'CASCADE'),
                                      ('recipient_id', 'campaign_recipients', 'CASCADE'),
                                      ('subscriber_id', 'subscribers', 'CASCADE'), ('link_id', 'links', 'SET NULL'),
                                      ('message_id', 'messages', 'CASCADE')):
            op.execute(f"ALTER TABLE events ADD CONSTRAINT events_{column}_fkey FOREIGN KEY ({column}) "
                       f"REFERENCES {table} (id) ON DELETE {action}")
        for name, cols in (('ix_events_campaign_type', 'campaign_id, event_type'),
                           ('ix_events_workspace_time', 'workspace_id, occurred_at'),
                           ('ix_events_recipient_id', 'recipient_id'), ('ix_events_subscriber_id', 'subscriber_id'),
                           ('ix_events_message_id', 'message_id')):
            op.execute(f"CREATE INDEX {name} ON events ({cols})")
        op.execute("ALTER TABLE events ADD CONSTRAINT events_event_key_key UNIQUE (event_key)")
        op.execute("ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_id_fkey "
                   "FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE SET NULL")
    else:
        with op.batch_alter_table('events', naming_convention=_NAMES) as batch_op:
            batch_op.create_unique_constraint('uq_events_event_key', ['event_key'])
        with op.batch_alter_table('webhook_deliveries', naming_convention=_NAMES) as batch_op:
            batch_op.create_foreign_key('fk_webhook_deliveries_event_id_events', 'events', ['event_id'], ['id'],
                                        ondelete='SET NULL')
    op.drop_table('event_keys')
