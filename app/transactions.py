"""Work that must wait for the commit (jobs enqueued for rows a worker has to see), and work
outside the database to undo when the transaction does not commit (a file already written)."""

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db


def on_commit(fn) -> None:
    """Run `fn` once the current transaction commits; dropped if it rolls back."""
    db.session.info.setdefault("on_commit", []).append(fn)


def on_rollback(fn) -> None:
    """Run `fn` if the current transaction ends without committing (rolled back or closed)."""
    db.session.info.setdefault("on_rollback", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session):
    session.info.pop("on_rollback", None)
    for fn in session.info.pop("on_commit", []):
        fn()


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session):
    session.info.pop("on_commit", None)


@event.listens_for(Session, "after_transaction_end")
def _undo_uncommitted(session, transaction):
    if transaction.parent is None:  # the outermost transaction; a committed one has cleared both lists
        session.info.pop("on_commit", None)  # closed without a commit: never run them on a later one
        for fn in session.info.pop("on_rollback", []):
            fn()
