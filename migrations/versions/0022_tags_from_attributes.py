"""tags that imports kept as the attribute `tags` (a list) move to subscriber_tags, where the dashboard,
the API and segments read them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:00:00

"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

POSTGRESQL = [
    """INSERT INTO subscriber_tags (subscriber_id, tag)
       SELECT DISTINCT s.id, lower(btrim(t.value))
       FROM subscribers s, jsonb_array_elements_text(s.attributes -> 'tags') AS t(value)
       WHERE jsonb_typeof(s.attributes -> 'tags') = 'array'
         AND btrim(t.value) <> '' AND length(btrim(t.value)) <= 100
       ON CONFLICT DO NOTHING""",
    "UPDATE subscribers SET attributes = attributes - 'tags' WHERE jsonb_typeof(attributes -> 'tags') = 'array'",
]
SQLITE = [
    """INSERT OR IGNORE INTO subscriber_tags (subscriber_id, tag)
       SELECT DISTINCT s.id, lower(trim(j.value))
       FROM subscribers s, json_each(s.attributes, '$.tags') AS j
       WHERE json_type(s.attributes, '$.tags') = 'array' AND j.type = 'text'
         AND trim(j.value) <> '' AND length(trim(j.value)) <= 100""",
    "UPDATE subscribers SET attributes = json_remove(attributes, '$.tags') WHERE json_type(attributes, '$.tags') = 'array'",
]


def upgrade():
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade():
    pass  # the tags stay where the product reads them
