"""Plotly figures the dashboard draws (app/static/js/charts.js renders them from JSON in the page)."""

from datetime import datetime, timedelta, timezone

CURVE_HOURS = 72  # the engagement curve's reach after sending


def _summed(result: dict) -> dict:
    """{bucket start: metrics} summed over the groups."""
    buckets: dict = {}
    for s in result["series"]:
        for p in s["points"]:
            into = buckets.setdefault(p["t"], dict.fromkeys(p, 0))
            for k, v in p.items():
                if k != "t":
                    into[k] += v
    return buckets


def insights_figure(result: dict, start=None, end=None) -> dict:
    """Per bucket, the delivery outcomes stacked (delivered, or sent where no provider reports
    deliveries; bounced, deferred, failed) and lines for the people who opened and clicked beside the
    raw opens, summed over the groups: readable without reading numbers."""
    buckets = _summed(result)
    times = sorted(buckets)
    x = [t.isoformat() for t in times]
    col = lambda m: [buckets[t][m] for t in times]  # noqa: E731
    step = timedelta(hours=1) if result["interval"] == "hour" else timedelta(days=1)
    xaxis = {"type": "date", "tickformat": "%d %b %H:%M" if result["interval"] == "hour" else "%d %b"}
    if start is not None:  # the whole range asked for, so a quiet stretch reads as quiet
        xaxis["range"] = [(start - step / 2).isoformat(), ((end or datetime.now(timezone.utc)) + step / 2).isoformat()]
    elif times:  # room either side, so one bucket reads as a bar and not as a point in time
        xaxis["range"] = [(times[0] - step).isoformat(), (times[-1] + step).isoformat()]
    reported = any(col("delivered"))
    lines = {"type": "scatter", "mode": "lines+markers"}
    # On a date axis a bar's width is in milliseconds: most of the bucket, the outcomes stacked in it.
    bars = {"type": "bar", "width": step.total_seconds() * 1000 * 0.7}
    return {
        "data": [
            {**bars, "name": "Delivered" if reported else "Sent", "x": x, "y": col("delivered" if reported else "sent"),
             "marker": {"color": "#2fb344" if reported else "#adb5bd"}},
            {**bars, "name": "Bounced", "x": x, "y": col("bounced"), "marker": {"color": "#d63939"}},
            {**bars, "name": "Deferred", "x": x, "y": col("deferred"), "marker": {"color": "#f59f00"}},
            {**bars, "name": "Failed", "x": x, "y": col("failed"), "marker": {"color": "#495057"}},
            {**lines, "name": "Opened by people", "x": x, "y": col("human_unique_opens"), "line": {"color": "#206bc4"}},
            {**lines, "name": "Opened, raw", "x": x, "y": col("unique_opens"),
             "line": {"color": "#206bc4", "dash": "dot"}},
            {**lines, "name": "Clicked by people", "x": x, "y": col("human_unique_clicks"), "line": {"color": "#ae3ec9"}},
        ],
        "layout": {"barmode": "stack", "xaxis": xaxis, "yaxis": {"title": {"text": "recipients"}, "rangemode": "tozero"},
                   "legend": {"orientation": "h", "y": -0.2, "traceorder": "normal"}},
    }  # fmt: skip


def curve_figure(hourly: dict) -> dict | None:
    """The engagement curve: of everyone sent to, the share opened and clicked by people (and opened,
    raw) so far, hour by hour after the first hand-off; None before anything was sent."""
    buckets = _summed(hourly)
    times = sorted(buckets)
    sent = sum(b["sent"] for b in buckets.values())
    if not times or not sent:
        return None
    first = next(t for t in times if buckets[t]["sent"])
    hours = list(range(CURVE_HOURS + 1))
    running = {m: [0] * len(hours) for m in ("human_unique_opens", "unique_opens", "human_unique_clicks")}
    for t in times:
        k = max(0, int((t - first).total_seconds() // 3600))
        for m, values in running.items():
            for h in range(min(k, CURVE_HOURS), len(hours)):
                values[h] += buckets[t][m]
    share = lambda m: [round(100 * v / sent, 2) for v in running[m]]  # noqa: E731
    line = {"type": "scatter", "mode": "lines", "x": hours}
    return {
        "data": [
            {**line, "name": "Opened by people", "y": share("human_unique_opens"), "line": {"color": "#206bc4"}},
            {**line, "name": "Opened, raw", "y": share("unique_opens"), "line": {"color": "#206bc4", "dash": "dot"}},
            {**line, "name": "Clicked by people", "y": share("human_unique_clicks"), "line": {"color": "#ae3ec9"}},
        ],
        "layout": {"xaxis": {"title": {"text": "hours after sending"}, "dtick": 12},
                   "yaxis": {"title": {"text": "% of recipients"}, "rangemode": "tozero"}},
    }  # fmt: skip


def shares_figure(totals: dict) -> dict | None:
    """People against machines (Apple's prefetches, scanners, link checkers) among opens and clicks;
    None when there were none."""
    if not totals["opens"] and not totals["clicks"]:
        return None
    kinds = ["Opens", "Clicks"]
    people = [totals["human_opens"], totals["human_clicks"]]
    machines = [totals["opens"] - totals["human_opens"], totals["clicks"] - totals["human_clicks"]]
    bar = {"type": "bar", "orientation": "h", "y": kinds}
    return {
        "data": [
            {**bar, "name": "People", "x": people, "marker": {"color": "#206bc4"}},
            {**bar, "name": "Machines", "x": machines, "marker": {"color": "#adb5bd"}},
        ],
        "layout": {
            "barmode": "stack",
            "height": 180,
            "xaxis": {"rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.3, "traceorder": "normal"},
        },
    }


def _day_axis(timeline: dict) -> dict:
    """The whole range asked for, half a day of room either side, so quiet days read as quiet."""
    start = datetime.combine(timeline["from"], datetime.min.time()) - timedelta(hours=12)
    end = datetime.combine(timeline["to"], datetime.min.time()) + timedelta(hours=12)
    return {"type": "date", "tickformat": "%d %b", "range": [start.isoformat(), end.isoformat()]}


def dmarc_messages_figure(timeline: dict) -> dict:
    """Messages per day of report stacked by what DMARC made of them: passed, failed from the
    workspace's dedicated IPs, failed from anyone else (one "failed" bar when it has none, since a
    provider's shared IPs cannot be told apart), with what the receivers quarantined or rejected."""
    points = timeline["points"]
    x = [p["day"].isoformat() for p in points]
    col = lambda m: [p[m] for p in points]  # noqa: E731
    bar = {"type": "bar", "x": x, "width": 86_400_000 * 0.7}  # on a date axis a bar's width is in milliseconds
    if timeline["known_sources"]:
        failed = [
            {**bar, "name": "Failed, your IPs", "y": col("failed_ours"), "marker": {"color": "#f59f00"}},
            {**bar, "name": "Failed, other senders", "y": col("failed_unknown"), "marker": {"color": "#d63939"}},
        ]
    else:
        failed = [{**bar, "name": "Failed DMARC", "y": col("failed"), "marker": {"color": "#d63939"}}]
    # Like the rate: nothing reported is not "none quarantined", so a quiet day breaks the line.
    acted = [p["quarantined"] + p["rejected"] if p["messages"] else None for p in points]
    return {
        "data": [
            {**bar, "name": "Passed DMARC", "y": col("passed"), "marker": {"color": "#2fb344"}},
            *failed,
            {"type": "scatter", "mode": "lines+markers", "name": "Quarantined or rejected", "x": x, "y": acted,
             "line": {"color": "#495057", "dash": "dot"}, "marker": {"size": 4}},
        ],
        "layout": {"barmode": "stack", "xaxis": _day_axis(timeline),
                   "yaxis": {"title": {"text": "messages"}, "rangemode": "tozero"},
                   "legend": {"orientation": "h", "y": -0.2, "traceorder": "normal"}},
    }  # fmt: skip


def dmarc_rate_figure(timeline: dict) -> dict:
    """The share of each day's messages that passed DMARC; a day without reports is a gap in the
    line, not a zero (nothing was measured)."""
    points = timeline["points"]
    rate = [round(100 * p["pass_rate"], 1) if p["pass_rate"] is not None else None for p in points]
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "Passed DMARC", "x": [p["day"].isoformat() for p in points],
             "y": rate, "customdata": [p["messages"] for p in points], "connectgaps": False,
             "hovertemplate": "%{x|%d %b}: %{y}% of %{customdata:,} messages<extra></extra>",
             "line": {"color": "#2fb344"}},
        ],
        "layout": {"xaxis": _day_axis(timeline), "yaxis": {"range": [0, 105], "fixedrange": True, "ticksuffix": "%"},
                   "showlegend": False, "height": 220},
    }  # fmt: skip


def flow_daily_figure(days: list[dict]) -> dict:
    """A flow's days (automation/flow_metrics.daily): people who entered as bars, with lines for those
    who reached a goal and the emails it sent; quiet days read as zeros."""
    x = [d["day"] for d in days]
    col = lambda m: [d[m] for d in days]  # noqa: E731
    lines = {"type": "scatter", "mode": "lines+markers", "x": x, "marker": {"size": 4}}
    return {
        "data": [
            {"type": "bar", "name": "Entered", "x": x, "y": col("entered"), "width": 86_400_000 * 0.7,
             "marker": {"color": "#adb5bd"}},
            {**lines, "name": "Reached a goal", "y": col("goal"), "line": {"color": "#2fb344"}},
            {**lines, "name": "Emails sent", "y": col("sent"), "line": {"color": "#206bc4"}},
        ],
        "layout": {"xaxis": {"type": "date", "tickformat": "%d %b"}, "yaxis": {"rangemode": "tozero"},
                   "legend": {"orientation": "h", "y": -0.2, "traceorder": "normal"}},
    }  # fmt: skip
