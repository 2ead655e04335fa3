"""The few SQL pieces that differ between PostgreSQL and SQLite, for the automation package: an INSERT
that knows ON CONFLICT, a JSON object built in the database, and a price written as text."""

import json

from sqlalchemy import Text, cast, func, literal
from sqlalchemy.dialects.postgresql import JSONB

from app.extensions import db


def postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def insert_into(table):
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update` in the dialect at hand."""
    if postgres():
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def money_text(column):
    """A Numeric(14, 2) as text with its two decimals ("49.90") on both databases."""
    return cast(column, Text) if postgres() else func.printf("%.2f", column)


def json_with(base: dict, key: str, value):
    """The JSON object `base` with `key` set to a column's value, built row by row inside an INSERT … SELECT."""
    if postgres():
        return cast(literal(json.dumps(base), Text), JSONB).op("||")(func.jsonb_build_object(key, value))
    return func.json_set(literal(json.dumps(base), Text), f"$.{key}", value)
