"""The warming page of a sending domain or a dedicated IP: the same page, reached from either
(Domains → a domain → Warming, Dedicated IPs → an IP → Warming)."""

from flask import flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt
from app.models import DedicatedIP
from app.services.campaigns import dispatch
from app.services.delivery import warming, warming_plans

# (blueprint, its id argument, the page of the subject's own checks)
_PLACES = {"domain": ("domains", "domain_id", "DNS records"), "ip": ("ips", "ip_id", "Checks")}


def _kind(subject) -> str:
    return "ip" if isinstance(subject, DedicatedIP) else "domain"


def _urls(subject) -> dict:
    blueprint, arg, back_label = _PLACES[_kind(subject)]
    ids = {arg: subject.id}
    return {
        "page": url_for(f"{blueprint}.warming_page", **ids),
        "progress": url_for(f"{blueprint}.warming_progress", **ids),
        "pause": url_for(f"{blueprint}.warming_pause", **ids),
        "resume": url_for(f"{blueprint}.warming_resume", **ids),
        "back": url_for(f"{blueprint}.show", **ids),
        "back_label": back_label,
    }


def figure(days: list[dict], ahead: list[dict]) -> dict:
    """The plan against what went out, per day: bars for sent, bounced and complained so far, a
    line for the daily cap through the end of the schedule (log scale: 50 and 50,000 both read)."""
    x = [d["date"] for d in days]
    plan = days + ahead
    return {
        "data": [
            {"type": "bar", "name": "Sent", "x": x, "y": [d["sent"] for d in days], "marker": {"color": "#206bc4"}},
            {"type": "bar", "name": "Bounced", "x": x, "y": [d["bounced"] for d in days], "marker": {"color": "#d63939"}},
            {"type": "bar", "name": "Complained", "x": x, "y": [d["complained"] for d in days],
             "marker": {"color": "#f76707"}},
            {"type": "scatter", "mode": "lines+markers", "name": "Plan (daily cap)", "x": [d["date"] for d in plan],
             "y": [d["limit"] for d in plan], "line": {"color": "#2fb344", "shape": "hv"}},
        ],
        "layout": {"yaxis": {"type": "log", "title": {"text": "messages (log scale)"}},
                   "xaxis": {"type": "date", "tickformat": "%d %b"}},
    }  # fmt: skip


def context(subject) -> dict:
    kind = _kind(subject)
    plan = warming_plans.plan_of(subject)
    ctx = {
        "subject": subject,
        "kind": kind,
        "name": subject.ip_address if kind == "ip" else subject.domain,
        "startable": subject.status in warming.STARTABLE[kind],
        "urls": _urls(subject),
        "plan": plan,
        "schedules": warming.list_schedules(g.ws_id),
    }
    if plan is not None:
        days = warming.days(plan)
        ctx.update(summary=warming.summary(plan), days=days, figure=figure(days, warming.ahead(plan)))
    return ctx


def _start(subject, schedule: str, day: int):
    plan = warming.start(g.ws_id, subject, schedule, day)
    dispatch.release_warming(plan)
    return plan


def page(subject):
    """GET: the page; POST: start (or restart) a plan from the form."""
    if request.method == "POST":
        start_day = request.form.get("start_day", "1").strip() or "1"
        day = int(start_day) if start_day.isdigit() and len(start_day) < 4 else -1
        plan, _ = attempt(_start, subject, request.form.get("schedule", ""), day)
        if plan:
            cap = warming.summary(plan)["daily_limit"]
            flash(f"Warming {context(subject)['name']}: today's cap is {cap if cap else 'none'}.", "success")
            return redirect(_urls(subject)["page"])
    return render_template("warming/page.html", **context(subject))


def progress(subject):
    """Today's progress, polled by the page."""
    return render_template("warming/_progress.html", **context(subject))


def pause(subject):
    plan = warming_plans.plan_of(subject)
    if plan is not None:
        _, errors = attempt(warming.pause, plan, "Paused by a person.")
        if not errors:
            flash("Warming paused: nothing more goes out through it until you resume.", "success")
    return redirect(_urls(subject)["page"])


def _resume(plan):
    warming.resume(plan)
    dispatch.release_warming(plan)


def resume(subject):
    plan = warming_plans.plan_of(subject)
    if plan is not None:
        _, errors = attempt(_resume, plan)
        if not errors:
            flash("Warming resumed at the day it paused on.", "success")
    return redirect(_urls(subject)["page"])
