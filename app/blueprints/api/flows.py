"""Flows: a trigger and steps people go through one by one, their versions, people and emails, and the
ready-made flows (recipes) made in one call."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import iso, page_json, page_slice
from app.blueprints.helpers import commit
from app.services.automation import flow_pages, flow_people, flows, recipes
from app.services.pagination import paginate

TAG = "Flows"


def flow_summary_json(flow, version: int | None = None) -> dict:
    return {
        "id": flow.id,
        "name": flow.name,
        "status": flow.status,
        "recipe": flow.recipe,
        "trigger": flow.trigger or {},
        "version": version,
        "activated_at": iso(flow.activated_at),
        "created_at": iso(flow.created_at),
        "updated_at": iso(flow.updated_at),
    }


def flow_json(flow) -> dict:
    live = flows.current_version(flow)
    return flow_summary_json(flow, live.number if live else None) | {
        "steps": flow.steps or [],
        "goals": flow.goals or [],
        "reentry": flow.reentry or {"mode": "once"},
        "quiet_hours": flow.quiet_hours,
        "draft_changed": flow_pages.live_changed(flow),
        "people": flows.enrollment_counts(flow),
        "step_counts": flows.step_counts(flow),
    }


@operation("POST", "/flows", "Create a flow", tag=TAG, body="FlowInput", response="Flow", status=201)
def create_flow(body: dict):
    """A draft: nothing runs until it is activated. Each step gets its id (`s1`, `s2`…); a problem is named by
    its place (`steps.2.yes.0.days`), a template, list, segment or identity of another workspace included."""
    flow = flows.create_flow(workspace_id(), body)
    commit()
    return flow_json(flow)


@operation(
    "GET", "/flows", "List flows", tag=TAG, response="FlowSummary", paginated=True,
    query=(Param("status", {"enum": list(flows.STATUSES)}, "Only flows in this state."),),
)  # fmt: skip
def list_flows(query: dict):
    """Newest first."""
    items, total = paginate(flows.list_flows(workspace_id(), query.get("status")), query["page"], query["per_page"])
    numbers = flow_people.version_numbers([f.version_id for f in items if f.version_id])
    return page_json([flow_summary_json(f, numbers.get(f.version_id)) for f in items], total, query)


@operation("GET", "/flows/{flow_id}", "Show a flow", tag=TAG, response="Flow")
def show_flow(flow_id: int):
    """With its people (entered, active, completed, goal, exited) and, by step id, how many wait there now,
    how many times it was done and how it went."""
    return flow_json(flows.get_flow(workspace_id(), flow_id))


@operation(
    "PATCH", "/flows/{flow_id}", "Change a flow", tag=TAG, body="FlowPatch", response="Flow", errors=(409,)
)  # fmt: skip
def update_flow(flow_id: int, body: dict):
    """Changes the draft. A live flow keeps running its version (`draft_changed` says the draft differs) until
    it is activated again; then new entrants follow the new version and people inside finish theirs. An
    archived flow cannot change (409)."""
    flow = flows.update_flow(workspace_id(), flow_id, body)
    commit()
    return flow_json(flow)


@operation("DELETE", "/flows/{flow_id}", "Delete a flow", tag=TAG, status=204, errors=(409,))
def delete_flow(flow_id: int):
    """Only a draft nobody entered; a flow that ran answers 409: archive it instead (its emails and figures stay)."""
    flows.delete_flow(workspace_id(), flow_id)
    commit()
    return Response(status=204)


@operation("POST", "/flows/{flow_id}/activate", "Activate a flow", tag=TAG, response="Flow", errors=(409, 422))
def activate_flow(flow_id: int):
    """Starts or resumes it. Steps that changed since the live version become a new version. 422 when it has no
    step, an email step has no sender (and the workspace no usual one) or a text message step no Twilio
    provider; 409 when archived."""
    flow = flows.activate(workspace_id(), flow_id)
    commit()
    return flow_json(flow)


@operation("POST", "/flows/{flow_id}/pause", "Pause a flow", tag=TAG, response="Flow", errors=(409,))
def pause_flow(flow_id: int):
    """Nobody enters and nobody moves on (its emails and texts not yet sent wait too) until it is activated
    again; 409 unless it is active."""
    flow = flows.pause(workspace_id(), flow_id)
    commit()
    return flow_json(flow)


@operation("POST", "/flows/{flow_id}/archive", "Archive a flow", tag=TAG, response="Flow")
def archive_flow(flow_id: int):
    """Stops it for good: everyone inside leaves (exited); its emails and figures stay."""
    flow = flows.archive(workspace_id(), flow_id)
    commit()
    return flow_json(flow)


@operation(
    "POST", "/flows/{flow_id}/enroll", "Enroll a person", tag=TAG, body="FlowEnrollInput", response="FlowEnrolled",
    errors=(409,),
)  # fmt: skip
def enroll(flow_id: int, body: dict):
    """Only for a flow whose trigger is the API, while it is active (else 409). `enrolled` is false when its
    re-entry rules keep the person out (once: never again), or they are not subscribed."""
    entered, person = flow_people.enroll_person(
        workspace_id(), flow_id, body.get("email"), body.get("subscriber_id"), body.get("context")
    )
    commit()
    return {"enrolled": entered, "subscriber_id": person}


@operation(
    "POST", "/flows/from-recipe", "Create a ready-made flow", tag=TAG, body="FlowRecipeInput", response="Flow",
    status=201,
)  # fmt: skip
def create_from_recipe(body: dict):
    """A draft flow of the recipe with its emails (visual templates made from the builder's starters, ready to
    edit). A problem with an option is named by its place (`options.idle_minutes`) and nothing is made."""
    flow = recipes.create_from_recipe(workspace_id(), body["recipe"], body.get("options"))
    commit()
    return flow_json(flow)


def recipe_json(recipe: recipes.Recipe) -> dict:
    return {
        "key": recipe.key,
        "title": recipe.title,
        "description": recipe.description,
        "trigger": recipe.trigger,
        "starts_when": recipe.starts_when,
        "options": [
            {"name": o.name, "type": o.kind, "required": o.required, "default": o.default,
             "minimum": o.low if o.kind == "int" else None, "maximum": o.high if o.kind == "int" else None,
             "description": o.description}
            for o in recipes.options_of(recipe)
        ],
    }  # fmt: skip


@operation("GET", "/flow-recipes", "List ready-made flows", tag=TAG, response="FlowRecipe", paginated=True)
def list_recipes(query: dict):
    """The ready-made flows POST /flows/from-recipe makes, with the options each takes."""
    return page_slice([recipe_json(r) for r in recipes.list_recipes()], query)


@operation("GET", "/flows/{flow_id}/sends", "List a flow's emails", tag=TAG, response="FlowSend", paginated=True)
def list_sends(flow_id: int, query: dict):
    """Each email of the flow, newest first: to whom, for which step, what happened (skipped ones with their
    reason), and when a person opened or clicked it."""
    rows, total = flow_people.sends(flows.get_flow(workspace_id(), flow_id), query["page"], query["per_page"])
    items = [
        {"email": r.email, "subscriber_id": r.subscriber_id, "step_id": step_id, "campaign_id": r.campaign_id,
         "status": r.status, "reason": r.reason, "sent_at": iso(r.sent_at), "opened_at": iso(r.human_opened_at),
         "clicked_at": iso(r.human_clicked_at)}
        for r, step_id in rows
    ]  # fmt: skip
    return page_json(items, total, query)


@operation(
    "GET", "/flows/{flow_id}/enrollments", "List a flow's people", tag=TAG, response="FlowEnrollment",
    paginated=True,
    query=(Param("status", {"enum": list(flow_people.ENROLLMENT_STATUSES)}, "Only enrollments in this state."),),
)  # fmt: skip
def list_enrollments(flow_id: int, query: dict):
    """Who entered, newest first: where each is now (active) or how they left, and the version they follow."""
    flow = flows.get_flow(workspace_id(), flow_id)
    rows, total = flow_people.enrollments(flow, query.get("status"), query["page"], query["per_page"])
    items = [
        {"id": e.id, "subscriber_id": e.subscriber_id, "email": email, "status": e.status, "step_id": e.step_id,
         "due_at": iso(e.due_at), "version": number, "cycle": e.cycle, "entered_at": iso(e.entered_at),
         "finished_at": iso(e.finished_at), "exit_reason": e.exit_reason}
        for e, email, number in rows
    ]  # fmt: skip
    return page_json(items, total, query)
