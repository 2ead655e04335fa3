"""What several modules of the package use: the deliveries table, the clock, the number of send threads."""

from __future__ import annotations

from datetime import datetime, timezone

from app.models import WebhookDelivery

SEND_THREADS = 8
_wd = WebhookDelivery.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)
