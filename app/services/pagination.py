"""One page of any select, with the total the pager shows."""

from sqlalchemy import func, select

from app.extensions import db
from app.services.ids import parse_int

MAX_PAGE = 10_000_000  # as the API's `page` allows; any offset it makes fits a 64-bit integer
MAX_PER_PAGE = 200


def page_from(value) -> int:
    """The page asked for in `value` (a query string), from 1 to MAX_PAGE; 1 for anything unreadable."""
    page = parse_int(value, max_digits=100)  # longer is no number anyone typed
    return 1 if page is None else max(1, min(page, MAX_PAGE))


def paginate(stmt, page: int, per_page: int):
    """(items, total) for one page of a select."""
    page = max(1, min(page, MAX_PAGE))
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, total
