"""What several modules of the package use: the deliveries table, the clock, the number of send threads."""

from __future__ import annotations

from datetime import datetime, timezone

from app.models import WebhookDelivery

SEND_THREADS = 8
deliveries_table = WebhookDelivery.__table__


def utc_now() -> datetime:
    """Now, timezone-aware in UTC (as every timestamp is stored)."""
    return datetime.now(timezone.utc)
