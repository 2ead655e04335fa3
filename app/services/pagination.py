"""One page of any select, with the total the pager shows."""

from sqlalchemy import func, select

from app.extensions import db


def paginate(stmt, page: int, per_page: int):
    """(items, total) for one page of a select."""
    page = max(1, page)
    per_page = max(1, min(per_page, 200))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, total
