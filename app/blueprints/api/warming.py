"""Warming: a sending domain's (or a dedicated IP's) daily cap that grows on a schedule, paused by thresholds."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.services.campaigns import dispatch
from app.services.delivery import domains, ips, warming, warming_plans
from app.services.errors import NotFound

TAG = "Warming"


def warming_json(plan) -> dict:
    s = warming.summary(plan)
    return {**s, "next_release": iso(s["next_release"]), "days": warming.days(plan)}


def _plan(domain_id: int):
    domain = domains.get_domain(workspace_id(), domain_id)
    plan = warming_plans.plan_of(domain)
    if plan is None:
        raise NotFound(f"{domain.domain} is not warming: start a plan with POST /domains/{domain.id}/warming.")
    return plan


def _ip_plan(ip_id: int):
    ip = ips.get_ip(workspace_id(), ip_id)
    plan = warming_plans.plan_of(ip)
    if plan is None:
        raise NotFound(f"{ip.ip_address} is not warming: start a plan with POST /ips/{ip.id}/warming.")
    return plan


def _start(subject, body: dict) -> dict:
    plan = warming.start(workspace_id(), subject, body["schedule"], body.get("start_day", 1))
    dispatch.release_warming(plan)
    commit()
    return warming_json(plan)


def _pause(plan) -> dict:
    warming.pause(plan, "Paused by a person.")
    commit()
    return warming_json(plan)


def _resume(plan) -> dict:
    warming.resume(plan)
    dispatch.release_warming(plan)
    commit()
    return warming_json(plan)


@operation("POST", "/domains/{domain_id}/warming", "Start warming a domain", tag=TAG, body="WarmingStart",
           response="Warming", status=201)  # fmt: skip
def start_warming(domain_id: int, body: dict):
    """The domain's daily cap follows the schedule from `start_day` (a half-warmed domain moved
    from another platform starts later). Campaigns from it send the most engaged recipients first;
    the rest wait for the next day's capacity."""
    return _start(domains.get_domain(workspace_id(), domain_id), body)


@operation("GET", "/domains/{domain_id}/warming", "Show a domain's warming", tag=TAG, response="Warming")
def show_warming(domain_id: int):
    """Today's day, cap and progress, who waits, and every day so far (cap, let out, sent, bounced, complained)."""
    return warming_json(_plan(domain_id))


@operation("POST", "/domains/{domain_id}/warming/pause", "Pause warming", tag=TAG, response="Warming")
def pause_warming(domain_id: int):
    """Nothing more is sent from the domain until it is resumed."""
    return _pause(_plan(domain_id))


@operation("POST", "/domains/{domain_id}/warming/resume", "Resume warming", tag=TAG, response="Warming")
def resume_warming(domain_id: int):
    """The plan continues at the day (and volume) it paused on."""
    return _resume(_plan(domain_id))


@operation("POST", "/ips/{ip_id}/warming", "Start warming an IP", tag=TAG, body="WarmingStart", response="Warming",
           status=201)  # fmt: skip
def start_ip_warming(ip_id: int, body: dict):
    """The IP's daily cap follows the schedule. It gates the campaigns whose first provider is the
    one bound to the IP; a campaign also gated by its From domain's plan waits for the smaller room."""
    return _start(ips.get_ip(workspace_id(), ip_id), body)


@operation("GET", "/ips/{ip_id}/warming", "Show an IP's warming", tag=TAG, response="Warming")
def show_ip_warming(ip_id: int):
    """As for a domain; sent, bounced and complained are the bound provider's."""
    return warming_json(_ip_plan(ip_id))


@operation("POST", "/ips/{ip_id}/warming/pause", "Pause an IP's warming", tag=TAG, response="Warming")
def pause_ip_warming(ip_id: int):
    """Nothing more goes out through the IP until it is resumed."""
    return _pause(_ip_plan(ip_id))


@operation("POST", "/ips/{ip_id}/warming/resume", "Resume an IP's warming", tag=TAG, response="Warming")
def resume_ip_warming(ip_id: int):
    """The plan continues at the day (and volume) it paused on."""
    return _resume(_ip_plan(ip_id))


@operation("GET", "/warming-schedules", "List warming schedules", tag=TAG, response="WarmingSchedule",
           paginated=True)  # fmt: skip
def list_schedules(query: dict):
    """The built-in schedules (standard, conservative, moderate, aggressive), then the workspace's own."""
    items = [{"key": s.key, "name": s.name, "steps": s.steps_json(), "interpolate": s.interpolate}
             for s in warming.list_schedules(workspace_id())]  # fmt: skip
    return page_slice(items, query)


@operation("POST", "/warming-schedules", "Add a warming schedule", tag=TAG, body="WarmingScheduleCreate",
           response="WarmingSchedule", status=201)  # fmt: skip
def create_schedule(body: dict):
    """Steps `[{day, volume}]` from day 1, days ascending; each volume holds until the next listed
    day, and after the last one there is no cap. Start a plan with `schedule: "custom:<id>"`."""
    row = warming.create_schedule(workspace_id(), body["name"], body["steps"])
    commit()
    s = warming.schedule_for(workspace_id(), f"custom:{row.id}")
    return {"key": s.key, "name": s.name, "steps": s.steps_json(), "interpolate": s.interpolate}
