"""Subscribers: search, add, show, import, unsubscribe, delete."""

import json

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import (
    attempt,
    category_changes,
    commit,
    int_list,
    is_htmx,
    page_number,
    workspace_view,
)
from app.extensions import db
from app.models import Event
from app.models.audience import SUBSCRIBER_STATUSES
from app.services.audience import contacts, double_opt_in, imports, preferences, privacy, signups, subscriber_changes
from app.services.audience import tags as tagging
from app.services.audience.import_columns import ATTRIBUTE_PREFIX, TARGET_LABELS, attribute_name
from app.services.automation import customer_events
from app.services.errors import DomainError
from app.services.growth import loyalty_reads, referral_pages
from app.services.ids import as_id
from app.services.pagination import paginate
from app.services.sms import consent as sms_consent
from app.services.sms import phones
from app.services.sms import reads as sms_reads

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")
PER_PAGE = 50


def _filters() -> dict:
    list_id = as_id(request.args.get("list_id"))
    status = request.args.get("status") if request.args.get("status") in SUBSCRIBER_STATUSES else None
    tag = " ".join((request.args.get("tag") or "").split()).lower()[:100] or None
    return {"q": (request.args.get("q") or "").strip()[:200], "status": status, "list_id": list_id, "tag": tag}


@bp.route("/")
@workspace_view
def index():
    f = _filters()
    page = page_number()
    subs, total = paginate(contacts.search_subscribers(g.ws_id, **f), page, PER_PAGE)
    args = {k: v for k, v in f.items() if v}
    ctx = dict(
        subscribers=subs,
        total=total,
        page=page,
        per_page=PER_PAGE,
        f=f,
        args=args,
        lists=contacts.lists_with_counts(g.ws_id),
        statuses=SUBSCRIBER_STATUSES,
        workspace_tags=tagging.workspace_tags(g.ws_id, limit=200),
    )
    if is_htmx() and request.headers.get("HX-Target") == "subscriber-results":
        return render_template("subscribers/_results.html", **ctx)
    return render_template("subscribers/index.html", **ctx)


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form
        attrs = _parse_attributes(form.get("attributes", ""))
        try:
            if isinstance(attrs, str):
                raise DomainError(attrs, {"attributes": attrs})
            sub = signups.subscribe(
                g.ws_id,
                form.get("email"),
                form.get("name"),
                attrs,
                int_list(form.getlist("list_ids")),
                source="dashboard",
                tags=form.get("tags", ""),
                sms=_sms_changes(form),
            )
            commit()
        except DomainError as exc:
            db.session.rollback()
            errors = exc.fields or {"email": exc.message}
            errors.pop("id", None)
            flash(exc.message, "danger")
        else:
            pending = " They stay pending until they press the link in the confirmation email just sent."
            flash(f"{sub.email} added.{pending if sub.status == 'pending' else ''}", "success")
            return redirect(url_for("subscribers.show", subscriber_id=sub.id))
    preselected = int_list(form.getlist("list_ids")) if form else int_list([request.args.get("list_id")])
    return render_template(
        "subscribers/new.html",
        errors=errors,
        form=form,
        lists=contacts.lists_with_counts(g.ws_id),
        preselected=preselected,
    ), (422 if errors else 200)


def _sms_changes(form) -> dict:
    """The phone typed (empty: none) and, when the box or button says so, the person's consent to texts."""
    changes = {"phone": form.get("phone", "").strip()}
    if form.get("sms_status") in ("subscribed", "opted_out"):
        changes["sms_status"] = form["sms_status"]
    return changes


def _parse_attributes(text: str):
    """`key: value` lines from the form into a dict, or an error message."""
    attrs = {}
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            return f"Attributes line {n}: write it as name: value."
        k, v = line.split(":", 1)
        attrs[k.strip()] = _attribute_value(v.strip())
    return attrs


def _attribute_value(text: str):
    """A value as typed; a JSON list or object (how the form shows imported tags) stays one."""
    if text[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, (list, dict)) else text
    return text


def _attributes_text(attributes: dict) -> str:
    """Attributes as the form's `name: value` lines; lists and objects written as JSON, so they survive a save."""
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in sorted(attributes.items())
    )


TIMELINE_SIZE = 15  # the person's latest customer events; the Events page and the API have the rest


@bp.route("/<int:subscriber_id>")
@workspace_view
def show(subscriber_id):
    return _show_page(contacts.get_subscriber(g.ws_id, subscriber_id))


def _show_page(sub, sms_errors: dict | None = None, sms_phone: str | None = None):
    """The subscriber's page; after a refused change of their texts, with the errors on its fields."""
    list_ids = set(contacts.subscriber_list_ids(sub.id))
    lists = [(lst, n) for lst, n in contacts.lists_with_counts(g.ws_id) if lst.id in list_ids]
    events = list(
        db.session.scalars(
            db.select(Event)
            .where(Event.subscriber_id == sub.id, Event.workspace_id == g.ws_id)
            .order_by(Event.occurred_at.desc())
            .limit(20)
        )
    )
    return render_template(
        "subscribers/show.html",
        sub=sub,
        lists=lists,
        events=events,
        tags=tagging.tags_of(sub.id),
        choices=preferences.subscriber_preferences(g.ws_id, sub.id),
        frequencies=preferences.FREQUENCY_LABELS,
        preferences_url=preferences.preferences_url(sub.id),
        customer_events=customer_events.events_of(g.ws_id, sub.id, limit=TIMELINE_SIZE),
        timeline_size=TIMELINE_SIZE,
        summary=customer_events.summary,
        referral_links=referral_pages.subscriber_links(g.ws_id, sub.id),
        loyalty_card=loyalty_reads.subscriber_card(g.ws_id, sub),
        sms_errors=sms_errors or {},
        sms_phone=sms_phone,
        number_stopped=sms_consent.is_opted_out(g.ws_id, sub.phone),
        texts=sms_reads.texts_of(sub.id, limit=10),
    ), (422 if sms_errors else 200)


@bp.route("/<int:subscriber_id>/sms", methods=["POST"])
@workspace_view
def update_sms(subscriber_id):
    """Set or clear the person's number; with a button, record that they agreed to texts or opted out."""
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    changes = _sms_changes(request.form)
    try:
        subscriber_changes.update_sms(g.ws_id, sub.id, changes, method="dashboard")
        commit()
    except DomainError as exc:
        db.session.rollback()
        # The whole sentence on the field it is about ("“12” is not a valid phone number; check …").
        errors = {next(iter(exc.fields), "sms_status"): exc.message}
        return _show_page(contacts.get_subscriber(g.ws_id, subscriber_id), errors, changes["phone"])
    flash(_sms_saved(sub), "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id) + "#sms")


def _sms_saved(sub) -> str:
    if not sub.phone:
        return "Phone number removed."
    said = {"subscribed": "agreed to texts", "opted_out": "opted out of texts"}.get(sub.sms_status, "not asked yet")
    return f"Saved: {phones.display(sub.phone)}, {said}."


@bp.route("/<int:subscriber_id>/preferences", methods=["POST"])
@workspace_view
def update_preferences(subscriber_id):
    """The person's choice per category, as a team member sets it (on their word)."""
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    _, errors = attempt(preferences.set_preferences, g.ws_id, sub.id, category_changes(request.form))
    if not errors:
        flash(f"{sub.email}'s email preferences saved.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id) + "#preferences")


@bp.route("/<int:subscriber_id>/tags", methods=["POST"])
@workspace_view
def add_tags(subscriber_id):
    """Add the tags typed (separated by commas) to the subscriber."""
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    _, errors = attempt(tagging.add_tags, g.ws_id, sub.id, request.form.get("tags", ""))
    if not errors:
        flash("Tags saved.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id) + "#tags")


@bp.route("/<int:subscriber_id>/tags/remove", methods=["POST"])
@workspace_view
def remove_tag(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    _, errors = attempt(tagging.remove_tags, g.ws_id, sub.id, [request.form.get("tag", "")])
    if not errors:
        flash(f"Tag “{request.form.get('tag', '').strip().lower()}” removed.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id) + "#tags")


@bp.route("/<int:subscriber_id>/confirmation", methods=["POST"])
@workspace_view
def resend_confirmation(subscriber_id):
    """Send a pending subscriber their confirmation email again."""
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    if sub.status != "pending":
        flash(f"{sub.email} is {sub.status}: there is nothing to confirm.", "info")
    elif double_opt_in.send_confirmation(sub, contacts.subscriber_list_ids(sub.id)) is None:
        flash("The confirmation email could not be sent: check that a sending provider is set up.", "danger")
    else:
        commit()
        flash(f"Confirmation email sent to {sub.email} again.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id))


@bp.route("/<int:subscriber_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    errors = {}
    form = {"name": sub.name, "attributes": _attributes_text(sub.attributes or {})}
    selected = contacts.subscriber_list_ids(sub.id)
    if request.method == "POST":
        form = request.form
        selected = int_list(form.getlist("list_ids"))
        attrs = _parse_attributes(form.get("attributes", ""))
        if isinstance(attrs, str):
            errors = {"attributes": attrs}
        else:
            saved, errors = attempt(
                subscriber_changes.update_subscriber, g.ws_id, sub.id, form.get("name"), attrs, selected
            )
            if saved:
                flash(f"{sub.email} saved.", "success")
                return redirect(url_for("subscribers.show", subscriber_id=sub.id))
    return render_template(
        "subscribers/edit.html",
        sub=sub,
        form=form,
        errors=errors,
        lists=contacts.lists_with_counts(g.ws_id),
        selected=selected,
    ), (422 if errors else 200)


@bp.route("/<int:subscriber_id>/unsubscribe", methods=["POST"])
@workspace_view
def unsubscribe(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    contacts.unsubscribe(sub, detail="unsubscribed by a team member", source="dashboard")
    commit()
    flash(f"{sub.email} is unsubscribed and will be skipped by campaigns.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id))


@bp.route("/<int:subscriber_id>/resubscribe", methods=["POST"])
@workspace_view
def resubscribe(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    contacts.resubscribe(sub)
    commit()
    flash(f"{sub.email} is subscribed again.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id))


@bp.route("/<int:subscriber_id>/export.json")
@workspace_view
def export(subscriber_id):
    """Everything Herald holds about the person, as one JSON download (audit-logged)."""
    document = privacy.export_subscriber(g.ws_id, subscriber_id)
    commit()
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    return current_app.response_class(body, mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename=subscriber-{subscriber_id}.json", "Cache-Control": "no-store"})  # fmt: skip


@bp.route("/<int:subscriber_id>/erase", methods=["POST"])
@workspace_view
def erase(subscriber_id):
    """Erase the person's data on their request; the row stays, anonymised, so figures keep adding up."""
    privacy.erase_subscriber(g.ws_id, subscriber_id)  # another workspace's id: 404
    commit()
    flash("Personal data erased: the address is kept only as a hash, so it cannot be added again.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=subscriber_id))


@bp.route("/<int:subscriber_id>/delete", methods=["POST"])
@workspace_view
def delete(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    email = sub.email
    contacts.delete_subscriber(g.ws_id, subscriber_id)
    commit()
    flash(f"{email} deleted.", "success")
    return redirect(url_for("subscribers.index"))


@bp.route("/import", methods=["GET"])
@workspace_view
def import_form():
    return _import_page(int_list([request.args.get("list_id")]))


@bp.route("/import", methods=["POST"])
@workspace_view
def import_upload():
    """Park the uploaded CSV and go on to its columns."""
    list_ids = int_list(request.form.getlist("list_ids"))
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise DomainError("Choose a CSV file to import.", {"file": "Choose a CSV file to import."})
        data = upload.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        if len(data) > current_app.config["IMPORT_MAX_BYTES"]:
            raise DomainError("The file is larger than the import limit.", {"file": "File too large."})
        import_id = imports.park_upload(g.ws_id, data, upload.filename, list_ids)
    except DomainError as exc:
        return _import_page(list_ids, errors=exc.fields or {"file": exc.message}), 422
    return redirect(url_for("subscribers.import_columns", import_id=import_id))


def _import_page(list_ids: list[int], result=None, errors=None, filename=None):
    return render_template(
        "subscribers/import.html",
        lists=contacts.lists_with_counts(g.ws_id),
        result=result,
        preselected=list_ids,
        errors=errors or {},
        filename=filename,
    )


@bp.route("/imports/<import_id>/columns")
@workspace_view
def import_columns(import_id):
    """Each column with samples and what it will become, pre-filled with Herald's guess."""
    preview = _preview_or_none(import_id)
    if preview is None:
        return _expired_or_started(import_id)
    return _columns_page(import_id, preview, preview.columns, preview.list_ids, {})


@bp.route("/imports/<import_id>/columns", methods=["POST"])
@workspace_view
def import_mapped(import_id):
    """Import by the chosen columns: now for a small file, in the background for a large one."""
    preview = _preview_or_none(import_id)
    if preview is None:
        return _expired_or_started(import_id)
    columns, list_ids = _chosen_columns(len(preview.header)), int_list(request.form.getlist("list_ids"))
    try:
        if imports.parked_size(g.ws_id, import_id) > current_app.config["IMPORT_INLINE_BYTES"]:
            imports.start_import(g.ws_id, import_id, columns, list_ids)
            return redirect(url_for("subscribers.import_progress", import_id=import_id))
        result = imports.import_now(g.ws_id, import_id, columns, list_ids)
        commit()
    except DomainError as exc:
        db.session.rollback()
        errors = dict(exc.fields) or {"mapping": exc.message}
        return _columns_page(import_id, preview, columns, list_ids, errors | {"form": exc.message}), 422
    flash(result.summary(), "success" if not result.errors else "info")
    return _import_page(list_ids, result=result, filename=preview.filename)


@bp.route("/imports/<import_id>/discard", methods=["POST"])
@workspace_view
def import_discard(import_id):
    """Forget an uploaded file instead of importing it."""
    if _preview_or_none(import_id) is not None:
        imports.discard_upload(g.ws_id, import_id)
    return redirect(url_for("subscribers.import_form"))


def _preview_or_none(import_id: str):
    try:
        return imports.preview(g.ws_id, import_id)
    except DomainError:
        return None


def _expired_or_started(import_id: str):
    status = imports.import_status(g.ws_id, import_id)
    if status is not None and status["state"] != "mapping":
        return redirect(url_for("subscribers.import_progress", import_id=import_id))
    flash("That upload has expired or was discarded: upload the file again.", "warning")
    return redirect(url_for("subscribers.import_form"))


def _chosen_columns(count: int) -> list[str]:
    """The form's target per column; "attribute" takes the name typed next to it."""
    columns = []
    for i in range(count):
        target = request.form.get(f"column_{i}", "ignore").strip()
        if target == "attribute":
            target = ATTRIBUTE_PREFIX + request.form.get(f"attribute_{i}", "").strip()
        columns.append(target)
    return columns


def _columns_page(import_id: str, preview, columns: list[str], list_ids: list[int], errors: dict):
    return render_template(
        "subscribers/import_columns.html",
        import_id=import_id,
        preview=preview,
        columns=columns,
        labels=TARGET_LABELS,
        prefix=ATTRIBUTE_PREFIX,
        default_names=[attribute_name(h) for h in preview.header],
        lists=contacts.lists_with_counts(g.ws_id),
        preselected=list_ids,
        errors=errors,
    )


@bp.route("/imports/<import_id>")
@workspace_view
def import_progress(import_id):
    """A large import's page; its progress fragment re-polls until done (HTTP 286)."""
    status = imports.import_status(g.ws_id, import_id)
    if status is None:
        abort(404)
    if status["state"] == "mapping":
        return redirect(url_for("subscribers.import_columns", import_id=import_id))
    finished = status["state"] in ("done", "failed")
    if is_htmx():
        return render_template("subscribers/_import_progress.html", s=status, import_id=import_id), (
            286 if finished else 200
        )
    return render_template("subscribers/import_progress.html", s=status, import_id=import_id)
