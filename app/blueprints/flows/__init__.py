"""Flows: the index, the gallery of ready-made flows, the visual editor and the flow's figures.

The editor changes the draft one action at a time (add a step, edit, move, delete), each a plain form
post that works without JavaScript; with HTMX the same posts answer with the steps drawn again
(`flows/_steps.html`), and the keyboard and drag-and-drop (static/js/flows.js) press the same buttons.
flows.update_flow checks every change; what it refuses is shown on the step it names, unsaved.
"""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from app.blueprints.figures import flow_daily_figure
from app.blueprints.flows import forms, tree, words
from app.blueprints.helpers import attempt, attempt_quietly, commit, is_htmx, page_number, workspace_view
from app.blueprints.roles import can
from app.extensions import db
from app.services.automation import event_checks, flow_metrics, flow_pages, flow_webhooks, flows, recipes
from app.services.errors import DomainError
from app.services.sms import campaigns as sms_campaigns

bp = Blueprint("flows", __name__, url_prefix="/flows")
PER_PAGE = 25
CHART_DAYS = 30
SETTINGS_FIELDS = ("name", "trigger", "goals", "reentry", "quiet_hours")  # errors shown in the settings form


def _names(choices: flow_pages.EditorChoices | None = None) -> dict:
    """What ids stand for in the words of triggers and steps."""
    if choices is None:
        lists, segments = flow_pages.names(g.ws_id)
        return {"lists": lists, "segments": segments}
    identities = {i.id: f"{i.display_name} <{i.email}>" for _domain, group in choices.identities for i in group}
    return {"lists": choices.lists, "segments": choices.segments, "identities": identities,
            "templates": {t.id: t.name for t in choices.templates},
            "sms_providers": choices.sms_providers}  # fmt: skip


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in flows.STATUSES else None
    page = page_number()
    rows, total = flow_pages.list_rows(g.ws_id, page, PER_PAGE, status)
    return render_template("flows/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE, status=status,
                           statuses=flows.STATUSES, names=_names(), words=words,
                           recovery_days=flow_metrics.RECOVERY_DAYS)  # fmt: skip


# ---- new: from a recipe, or from scratch ---------------------------------------------------------


def _gallery(errors: dict | None = None, failed: str | None = None, status: int = 200):
    lists, _segments = flow_pages.names(g.ws_id)
    return render_template("flows/new.html", recipes=recipes.list_recipes(), lists=lists, errors=errors or {},
                           failed=failed, form=request.form), status  # fmt: skip


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    """The gallery; its "Start from scratch" form posts here: a draft with a name and no steps."""
    if request.method == "GET":
        return _gallery()
    data = {"name": request.form.get("name") or "Untitled flow", "trigger": {"type": "api"}, "steps": []}
    flow, errors = attempt_quietly(flows.create_flow, g.ws_id, data)
    if errors:
        return _gallery(errors, "scratch", 422)
    return redirect(url_for("flows.edit", flow_id=flow.id))


@bp.route("/new/<recipe_key>", methods=["POST"])
@workspace_view
def from_recipe(recipe_key):
    """One click: the recipe's draft (with its templates), opened in the editor."""
    try:
        spec = recipes.get_recipe(recipe_key)
    except DomainError:
        abort(404)
    flow, errors = attempt_quietly(
        recipes.create_from_recipe, g.ws_id, spec.key, forms.recipe_options(request.form, spec)
    )
    if errors:
        return _gallery(errors, spec.key, 422)
    flash(f"“{flow.name}” is ready to look over: nothing runs until you activate it.", "success")
    return redirect(url_for("flows.edit", flow_id=flow.id))


# ---- the flow's page -------------------------------------------------------------------------------


@bp.route("/<int:flow_id>")
@workspace_view
def show(flow_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    report = flow_metrics.report(flow)
    tz = g.workspace.timezone or "UTC"
    choices = flow_pages.editor_choices(g.ws_id)
    version = flows.current_version(flow)
    steps = version.steps if version else flow.steps  # where people are, and what the figures count
    has_webhook = any(s.get("type") == "webhook" for s in tree.walk(steps))
    return render_template(
        "flows/show.html", flow=flow, report=report, version=version, recovery_days=flow_metrics.RECOVERY_DAYS,
        figure=flow_daily_figure(flow_metrics.daily(flow, CHART_DAYS, tz)), names=_names(choices), words=words,
        steps=steps, all_steps=list(tree.walk(steps)), counts=report.steps, editable=False,
        sends=flow_pages.recent_sends(flow),
        enrollments=flow_pages.recent_enrollments(flow), changed=flow_pages.live_changed(flow),
        secret=flow_webhooks.flow_secret(g.ws_id) if has_webhook else None, **_editor_parts(choices),
    )  # fmt: skip


# ---- the editor ----------------------------------------------------------------------------------


def _sms_preview(body: str):
    return sms_campaigns.preview(g.ws_id, body or "")


def _editor_parts(choices: flow_pages.EditorChoices) -> dict:
    return {
        "choices": choices,
        "forms": forms,
        "sms_preview": _sms_preview,
        "step_errors": {},
        "flow_errors": {},
        "open_ids": set(),
        "pending": {},
        "focus": None,
    }


def _editor(flow, steps=None, errors=None, settings=None, *, pending=None, focus=None, status=200):
    """The editor page, or (HTMX) its steps alone: `steps` as given (a change refused is shown, unsaved),
    each error on the step it names, the others above the steps or in the settings form."""
    steps = flow.steps if steps is None else steps
    step_errors, other = tree.errors_by_step(steps, errors or {})
    flow_errors = {k: v for k, v in other.items() if not k.startswith(SETTINGS_FIELDS)}
    choices = flow_pages.editor_choices(g.ws_id)
    context = {
        **_editor_parts(choices), "flow": flow, "steps": steps, "step_errors": step_errors, "errors": other,
        "flow_errors": flow_errors,
        "open_ids": set(step_errors) | set(pending or {}), "pending": pending or {}, "focus": focus,
        "counts": flow_metrics.report(flow).steps if flow.version_id else {}, "names": _names(choices),
        "words": words, "editable": can("write") and flow.status != "archived",
        "changed": flow_pages.live_changed(flow), "version": flows.current_version(flow),
        "event_types": event_checks.EVENT_TYPES + event_checks.DERIVED_TYPES,
    }  # fmt: skip
    if is_htmx() and settings is None:
        return render_template("flows/_steps.html", **context), status
    return render_template("flows/edit.html", settings=settings or forms.settings_of(flow), **context), status


@bp.route("/<int:flow_id>/edit")
@workspace_view
def edit(flow_id):
    """The editor; `?add=<type>&at=<place>` opens a new step's form there (nothing saved until it is sent)."""
    flow = flows.get_flow(g.ws_id, flow_id)
    kind, place = request.args.get("add"), request.args.get("at") or "start"
    if kind in forms.STEP_LABELS:
        step = {
            **forms.starter_step(kind, flow_pages.editor_choices(g.ws_id).templates),
            "id": tree.next_id(flow.steps),
        }
        steps = tree.insert(flow.steps, place, step)
        if steps is not None:
            return _editor(flow, steps, pending={step["id"]: place}, focus=step["id"])
    return _editor(flow)


@bp.route("/sms-preview")
@workspace_view
def sms_preview():
    """An SMS step's text measured as it is typed (HTMX): for a sample person, its encoding and segments."""
    return render_template("flows/_sms_measure.html", preview=_sms_preview(request.args.get("body", "")))


@bp.route("/<int:flow_id>/settings", methods=["POST"])
@workspace_view
def settings(flow_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    data = forms.settings_from_form(request.form)
    _, errors = attempt(flows.update_flow, g.ws_id, flow.id, data)
    if errors:
        return _editor(flows.get_flow(g.ws_id, flow_id), errors=errors, settings=data, status=422)
    flash("Saved.", "success")
    return redirect(url_for("flows.edit", flow_id=flow.id))


def _save_steps(flow, steps, focus: str | None, pending: dict | None = None):
    """Save the changed steps: the editor again (HTMX) or a redirect to it; a refusal shows the steps
    as they were sent, with the error on its step (422)."""
    if steps is None:  # the step or the place is gone (another tab changed the flow)
        gone = "That step is no longer in the flow: here it is as saved."
        if is_htmx():
            return _editor(flow, errors={"form": gone}, status=409)
        flash(gone, "danger")
        return redirect(url_for("flows.edit", flow_id=flow.id))
    try:
        flows.update_flow(g.ws_id, flow.id, {"steps": steps})
        commit()
    except DomainError as exc:
        db.session.rollback()
        flow = flows.get_flow(g.ws_id, flow.id)
        return _editor(flow, steps, exc.fields or {"steps": exc.message}, pending=pending, focus=focus, status=422)
    if is_htmx():
        return _editor(flow, focus=focus)
    return redirect(url_for("flows.edit", flow_id=flow.id, _anchor=f"step-{focus}" if focus else None))


def _step_id(step_id: str) -> str:
    if not tree.STEP_ID.match(step_id):
        abort(404)
    return step_id


@bp.route("/<int:flow_id>/steps/add", methods=["POST"])
@workspace_view
def add_step(flow_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    place = request.form.get("at") or "start"
    step = forms.step_from_form(request.form, request.form.get("type") or "")
    given = request.form.get("id") or ""
    taken = {s.get("id") for s in tree.walk(flow.steps)}
    step["id"] = given if tree.STEP_ID.match(given) and given not in taken else tree.next_id(flow.steps)
    return _save_steps(flow, tree.insert(flow.steps, place, step), step["id"], {step["id"]: place})


@bp.route("/<int:flow_id>/steps/<step_id>", methods=["POST"])
@workspace_view
def update_step(flow_id, step_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    found = tree.find(flow.steps, _step_id(step_id))
    old = found[0][found[1]] if found else None
    step = forms.step_from_form(request.form, request.form.get("type") or (old or {}).get("type", ""), old)
    return _save_steps(flow, tree.replace(flow.steps, step_id, step), step_id)


@bp.route("/<int:flow_id>/steps/<step_id>/move", methods=["POST"])
@workspace_view
def move_step(flow_id, step_id):
    """Up or down (the buttons, Alt+ArrowUp/Down), or to a place in its list (dragged there)."""
    flow = flows.get_flow(g.ws_id, flow_id)
    to = forms.typed(request.form.get("to") or "")
    direction = request.form.get("dir") if request.form.get("dir") in ("up", "down") else None
    if isinstance(to, int):  # dragged: the place wins over a button the browser may also report
        direction = None
    elif direction is None:
        abort(400)
    moved = tree.move(flow.steps, _step_id(step_id), direction, to if direction is None else None)
    return _save_steps(flow, moved, step_id)


@bp.route("/<int:flow_id>/steps/<step_id>/delete", methods=["POST"])
@workspace_view
def delete_step(flow_id, step_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    found = tree.find(flow.steps, _step_id(step_id))
    neighbour = None
    if found:  # focus stays in the flow: the step that takes its place, else the one before
        items, index = found
        rest = items[index + 1 :] or items[:index][-1:]
        neighbour = rest[0]["id"] if rest else None
    return _save_steps(flow, tree.remove(flow.steps, step_id), neighbour)


# ---- the flow's life: activate, pause, archive, delete ----------------------------------------------


def _back(flow):
    target = "flows.show" if request.form.get("next") == "show" else "flows.edit"
    return redirect(url_for(target, flow_id=flow.id))


@bp.route("/<int:flow_id>/activate", methods=["POST"])
@workspace_view
def activate(flow_id):
    flow = flows.get_flow(g.ws_id, flow_id)
    was, changed = flow.status, flow_pages.live_changed(flow)
    try:
        flow = flows.activate(g.ws_id, flow.id)
        commit()
    except DomainError as exc:
        db.session.rollback()
        flash(f"Not started: {exc.message}", "danger")
        return _editor(flows.get_flow(g.ws_id, flow_id), errors=exc.fields or {"steps": exc.message}, status=422)
    number = flows.current_version(flow).number
    if was in ("active", "paused") and changed:
        flash(f"Version {number} is live: new entrants follow the new version; people inside finish theirs.", "success")
    elif was == "paused":
        flash("Resumed: people inside move on, and new people enter.", "success")
    else:
        flash("The flow is live: people enter as its trigger happens.", "success")
    return _back(flow)


@bp.route("/<int:flow_id>/pause", methods=["POST"])
@workspace_view
def pause(flow_id):
    flow, _ = attempt(flows.pause, g.ws_id, flow_id)
    if flow:
        flash("Paused: nobody enters and nobody moves on until you resume it.", "success")
    return _back(flows.get_flow(g.ws_id, flow_id))


@bp.route("/<int:flow_id>/archive", methods=["POST"])
@workspace_view
def archive(flow_id):
    flow, _ = attempt(flows.archive, g.ws_id, flow_id)
    if flow:
        flash("Archived: the people inside left; its emails and figures stay.", "success")
    return redirect(url_for("flows.show", flow_id=flow_id))


@bp.route("/<int:flow_id>/delete", methods=["POST"])
@workspace_view
def delete(flow_id):
    name = flows.get_flow(g.ws_id, flow_id).name
    _, errors = attempt(flows.delete_flow, g.ws_id, flow_id)
    if errors:
        return redirect(url_for("flows.edit", flow_id=flow_id))
    flash(f"Deleted “{name}”.", "success")
    return redirect(url_for("flows.index"))
