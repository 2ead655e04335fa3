"""Jinja filters and globals every dashboard page uses."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import g
from markupsafe import Markup, escape


def num(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def localtime(value: datetime | str | None, fmt: str = "%d %b %Y, %H:%M") -> Markup:
    """A time (or an ISO 8601 string, as JSON columns keep them) in the workspace's timezone, with UTC on hover."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return Markup(escape(value))
    if value is None:
        return Markup("—")
    tz = ZoneInfo(getattr(getattr(g, "workspace", None), "timezone", None) or "UTC")
    local = value.astimezone(tz)
    utc = value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
    return Markup(f'<time datetime="{value.isoformat()}" title="{escape(utc)}">{escape(local.strftime(fmt))}</time>')


def localinput(value: datetime | None) -> str:
    """A time as a datetime-local input's value, in the workspace's timezone."""
    if value is None:
        return ""
    tz = ZoneInfo(getattr(getattr(g, "workspace", None), "timezone", None) or "UTC")
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def register_filters(app) -> None:
    app.jinja_env.filters["num"] = num
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["localinput"] = localinput
    from app.services.advisor.checks import check_name
    from app.services.advisor.outcomes import describe
    from app.services.sms.phones import display as phone_display

    app.jinja_env.filters["advisor_outcome"] = describe  # what followed an applied fix, in a sentence
    app.jinja_env.filters["advisor_check"] = check_name  # "Capitals in the subject (variant B)"
    app.jinja_env.filters["phone"] = phone_display  # E.164 as people write it: "+1 415-555-0123"

    @app.context_processor
    def nav_state():
        from app.services.delivery.providers import has_development_outbox

        ws_id = getattr(g, "ws_id", None)
        if ws_id is None:
            return {}
        if "nav_has_outbox" not in g:
            g.nav_has_outbox = has_development_outbox(ws_id)
        return {"nav_has_outbox": g.nav_has_outbox, "nav_alert_count": nav_alert_count}


def nav_alert_count() -> int:
    """The bell's badge: open alerts, counted once per request and only by a page that shows the
    bell (a fragment that polls every second never pays for it)."""
    from app.services.platform.alerts import open_count

    if "nav_alert_count" not in g:
        g.nav_alert_count = open_count(g.ws_id)
    return g.nav_alert_count
