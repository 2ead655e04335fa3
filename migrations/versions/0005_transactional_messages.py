"""transactional messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 17:00:00

"""
import re
import unicodedata

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _slugify(name):
    # The same rule as app.services.templates.slugify, frozen here: a migration never imports the app.
    ascii_name = unicodedata.normalize('NFKD', name or '').encode('ascii', 'ignore').decode()
    return re.sub(r'[^a-z0-9]+', '-', ascii_name.lower()).strip('-')[:80] or 'template'


def _fill_slugs():
    conn = op.get_bind()
    templates = sa.table('templates', sa.column('id', sa.Integer), sa.column('workspace_id', sa.Integer),
                         sa.column('name', sa.String), sa.column('slug', sa.String))
    taken = set()
    rows = conn.execute(sa.select(templates.c.id, templates.c.workspace_id, templates.c.name).order_by(templates.c.id))
    for tid, ws, name in rows.fetchall():
        base = _slugify(name)
        slug, n = base, 1
        while (ws, slug) in taken:
            n += 1
            slug = f'{base}-{n}'
        taken.add((ws, slug))
        conn.execute(templates.update().where(templates.c.id == tid).values(slug=slug))


def upgrade():
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slug', sa.String(length=100), nullable=True))
    _fill_slugs()
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_templates_workspace_id_slug', ['workspace_id', 'slug'])

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('template_name', sa.String(length=200), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('to_email', sa.String(length=320), nullable=False),
    sa.Column('to_name', sa.String(length=200), nullable=True),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('from_email', sa.String(length=320), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('reply_to', sa.String(length=320), nullable=True),
    sa.Column('context', JSON, nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('subject', sa.String(length=998), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('track_opens', sa.Boolean(), nullable=False),
    sa.Column('track_clicks', sa.Boolean(), nullable=False),
    sa.Column('links', JSON, nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'idempotency_key')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_template_id', ['template_id'], unique=False)
        batch_op.create_index('ix_messages_subscriber_id', ['subscriber_id'], unique=False)
        batch_op.create_index('ix_messages_ws_created', ['workspace_id', 'created_at'], unique=False)
        batch_op.create_index('ix_messages_ws_status', ['workspace_id', 'status'], unique=False)
        batch_op.create_index('ix_messages_ws_to', ['workspace_id', 'to_email'], unique=False)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_ws_to')
        batch_op.drop_index('ix_messages_ws_status')
        batch_op.drop_index('ix_messages_ws_created')
        batch_op.drop_index('ix_messages_subscriber_id')
        batch_op.drop_index('ix_messages_template_id')
    op.drop_table('messages')
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_constraint('uq_templates_workspace_id_slug', type_='unique')
        batch_op.drop_column('slug')
