"""Segments: the index, the builder with its live count and sample, freezing into a list, deleting."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, workspace_view
from app.blueprints.segments import forms, words
from app.services.audience import segment_rules, segments
from app.services.automation import customer_events
from app.services.errors import DomainError, ValidationError
from app.services.platform import audit

bp = Blueprint("segments", __name__, url_prefix="/segments")


@bp.route("/")
@workspace_view
def index():
    rows = segments.segment_rows(g.ws_id)
    names = _names() if rows else {}
    described = {s.id: words.rules_words(s.rules, names) for s in rows}
    return render_template("segments/index.html", segments=rows, described=described)


def _names(lists=None, campaigns=None) -> dict:
    """What the ids in rules stand for, for saying them in words."""
    lists = segments.list_choices(g.ws_id) if lists is None else lists
    campaigns = segments.campaign_choices(g.ws_id) if campaigns is None else campaigns
    return {"lists": dict(lists), "campaigns": dict(campaigns)}


@bp.route("/<int:segment_id>/count")
@workspace_view
def row_count(segment_id):
    """One row's count, loaded after the page (each may take up to the time limit)."""
    segment = segments.get_segment(g.ws_id, segment_id)
    try:
        counted = segments.count(g.ws_id, segment.rules)
    except ValidationError as exc:
        return render_template("segments/_row_count.html", counted=None, error=exc.message)
    return render_template("segments/_row_count.html", counted=counted, error=None)


def _builder_context(rules: dict, errors: dict | None = None) -> dict:
    uses_events = forms.uses_customer_events(rules)
    return {
        "rules": rules,
        "node_errors": forms.error_paths(errors or {}),
        "fields": forms.field_choices(segments.attribute_keys(g.ws_id)),
        "specs": segment_rules.FIELDS,
        "op_labels": segment_rules.OP_LABELS,
        "ops_for": lambda field: _ops_for(field),
        "value_text": forms.value_text,
        "lists": segments.list_choices(g.ws_id),
        "campaigns": list(segments.campaign_choices(g.ws_id)),
        "event_types": customer_events.known_types(g.ws_id) if uses_events else [],
    }


def _ops_for(field: str) -> tuple[str, ...]:
    if field in segment_rules.FIELDS:
        return segment_rules.FIELDS[field].ops
    key = field[len(forms.ATTRIBUTE) :]
    kind = segments.attribute_type(g.ws_id, key) if key else None
    return segment_rules.OPS_BY_TYPE[kind or "text"]


def _editor(segment=None, name: str = "", rules: dict | None = None, errors: dict | None = None, status: int = 200):
    rules = rules or forms.starter_rules()
    context = _builder_context(rules, errors)
    described = words.rules_words(segment.rules, _names(context["lists"], context["campaigns"])) if segment else ""
    return render_template(
        "segments/edit.html", segment=segment, name=name, errors=errors or {}, described=described, **context
    ), status


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    if request.method == "GET":
        return _editor()
    return _submitted(None)


@bp.route("/<int:segment_id>", methods=["GET", "POST"])
@workspace_view
def show(segment_id):
    segment = segments.get_segment(g.ws_id, segment_id)
    if request.method == "GET":
        return _editor(segment, segment.name, segment.rules)
    return _submitted(segment)


def _submitted(segment):
    """Save, or (a builder button without JavaScript) show the changed tree again."""
    rules, name = forms.rules_from_form(request.form), request.form.get("name", "")
    if request.form.get("action", "save") != "save":
        return _editor(segment, name, rules)
    try:
        if segment is None:
            segment = segments.create_segment(g.ws_id, name, rules)
        else:
            segments.update_segment(g.ws_id, segment.id, name, rules)
        commit()
    except DomainError as exc:
        return _editor(segment, name, rules, exc.fields or {"name": exc.message}, 422)
    flash(f"Segment “{segment.name}” saved.", "success")
    return redirect(url_for("segments.show", segment_id=segment.id))


@bp.route("/builder", methods=["POST"])
@workspace_view
def builder():
    """The builder again after a button or a field change (HTMX)."""
    html = render_template("segments/_builder.html", **_builder_context(forms.rules_from_form(request.form)))
    return html, 200, {"HX-Trigger": "segment-changed"}  # the live count follows the new tree


@bp.route("/preview", methods=["POST"])
@workspace_view
def preview():
    """The live count and a few matching people for the rules being edited (HTMX, debounced)."""
    rules = forms.rules_from_form(request.form)
    try:
        counted = segments.count(g.ws_id, rules)
        tree = segments.clean(g.ws_id, rules)
        people = segments.sample(g.ws_id, tree)
    except ValidationError as exc:  # a rule still being written: say what it lacks, not where in the tree
        why = next(iter(exc.fields.values()), exc.message)
        return render_template("segments/_preview.html", counted=None, people=[], error=f"Not counted yet: {why}.")
    return render_template("segments/_preview.html", counted=counted, people=people, error=None)


@bp.route("/<int:segment_id>/freeze", methods=["POST"])
@workspace_view
def freeze(segment_id):
    try:
        lst, added = segments.freeze(g.ws_id, segment_id, request.form.get("list_name") or None)
        audit.record(g.ws_id, "segment.freeze", "segment", segment_id, {"list_id": lst.id, "subscribers": added})
        commit()
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("segments.show", segment_id=segment_id))
    flash(f"Frozen into the list “{lst.name}” with {added:,} subscribers.", "success")
    return redirect(url_for("lists.show", list_id=lst.id))


@bp.route("/<int:segment_id>/delete", methods=["POST"])
@workspace_view
def delete(segment_id):
    name = segments.get_segment(g.ws_id, segment_id).name
    try:
        segments.delete_segment(g.ws_id, segment_id)
        audit.record(g.ws_id, "segment.delete", "segment", segment_id, {"name": name})
        commit()
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("segments.show", segment_id=segment_id))
    flash(f"Segment “{name}” deleted.", "success")
    return redirect(url_for("segments.index"))
