"""Where insights read from: the read replica named by INSIGHTS_DATABASE_URL, else the primary.

Insights pages, the overview and the insights API only read, and can take a replica's lag of a moment;
nothing that writes, or decides what to send, reads through here. One session per app context (a
request, a job), closed when it ends.
"""

from flask import current_app, g
from sqlalchemy.orm import Session

from app.extensions import db


def session():
    """The session insights read with: the replica's when one is configured, else `db.session`."""
    if not current_app.config.get("INSIGHTS_DATABASE_URL"):
        return db.session
    reader = g.get("_insights_session")
    if reader is None:
        reader = g._insights_session = Session(bind=db.engines["insights"])
    return reader


def close(_exc=None) -> None:
    reader = g.pop("_insights_session", None)
    if reader is not None:
        reader.close()
