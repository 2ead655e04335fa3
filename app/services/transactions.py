"""Work that must wait for the commit: jobs enqueued for rows a worker has to see."""

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db


def on_commit(fn) -> None:
    """Run `fn` once the current transaction commits; dropped if it rolls back."""
    db.session.info.setdefault("on_commit", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session):
    for fn in session.info.pop("on_commit", []):
        fn()


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session):
    session.info.pop("on_commit", None)
