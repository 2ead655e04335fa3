"""The migrations build exactly the schema the models describe: a column added to a model without a
migration (or the other way round) fails here, not in production at the first query."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.services.events.partitions import not_a_partition


def test_the_migrated_database_matches_the_models(ctx):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": not_a_partition})
        diff = compare_metadata(context, db.metadata)
    assert diff == []
