"""Plotly figures the dashboard draws (app/static/js/charts.js renders them from JSON in the page)."""

from datetime import datetime, timedelta, timezone


def insights_figure(result: dict, start=None, end=None) -> dict:
    """Per bucket, bars for what was sent, bounced and deferred, and lines for the people who opened and
    clicked beside the raw opens, summed over the groups: readable without reading numbers."""
    buckets: dict = {}
    for s in result["series"]:
        for p in s["points"]:
            into = buckets.setdefault(p["t"], dict.fromkeys(p, 0))
            for k, v in p.items():
                if k != "t":
                    into[k] += v
    times = sorted(buckets)
    x = [t.isoformat() for t in times]
    col = lambda m: [buckets[t][m] for t in times]  # noqa: E731
    step = timedelta(hours=1) if result["interval"] == "hour" else timedelta(days=1)
    xaxis = {"type": "date", "tickformat": "%d %b %H:%M" if result["interval"] == "hour" else "%d %b"}
    if start is not None:  # the whole range asked for, so a quiet stretch reads as quiet
        xaxis["range"] = [(start - step / 2).isoformat(), ((end or datetime.now(timezone.utc)) + step / 2).isoformat()]
    elif times:  # room either side, so one bucket reads as a bar and not as a point in time
        xaxis["range"] = [(times[0] - step).isoformat(), (times[-1] + step).isoformat()]
    lines = {"type": "scatter", "mode": "lines+markers"}
    # On a date axis a bar's width is in milliseconds: a quarter of the bucket each, three side by side.
    bars = {"type": "bar", "width": step.total_seconds() * 1000 / 4}
    return {
        "data": [
            {**bars, "name": "Sent", "x": x, "y": col("sent"), "marker": {"color": "#adb5bd"}},
            {**bars, "name": "Bounced", "x": x, "y": col("bounced"), "marker": {"color": "#d63939"}},
            {**bars, "name": "Deferred", "x": x, "y": col("deferred"), "marker": {"color": "#f59f00"}},
            {**lines, "name": "Opened by people", "x": x, "y": col("human_unique_opens"), "line": {"color": "#206bc4"}},
            {**lines, "name": "Opened, raw", "x": x, "y": col("unique_opens"),
             "line": {"color": "#206bc4", "dash": "dot"}},
            {**lines, "name": "Clicked by people", "x": x, "y": col("human_unique_clicks"), "line": {"color": "#ae3ec9"}},
        ],
        "layout": {"barmode": "group", "xaxis": xaxis, "yaxis": {"title": {"text": "recipients"}, "rangemode": "tozero"}},
    }  # fmt: skip
