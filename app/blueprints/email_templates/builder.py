"""The visual builder: starters, the three-pane editor, previews, test sends, saved blocks,
versions and conversion to code.

The browser holds the design JSON while a person works (so undo and redo are instant) and
posts the whole design on every change; the server validates it, saves it (folding a burst
of edits into one version) and answers with the canvas rendered from what it stored. A
design the validator refuses is not saved: the canvas stays, and the panel shows the error
under the field at fault.
"""

import json

from flask import current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from app.blueprints.email_templates import bp
from app.blueprints.email_templates import builder_fields as fields
from app.blueprints.helpers import attempt, commit, workspace_view
from app.extensions import db
from app.models.content import TEMPLATE_CATEGORIES
from app.services import designs
from app.services.campaigns import test_sends
from app.services.content import saved_blocks, templates
from app.services.designs import starters
from app.services.designs.sanitize import canvas_html
from app.services.errors import DomainError, ValidationError
from app.services.platform import workspaces

AUTOSAVE_WINDOW = 120  # seconds: one person's edits within this window make one version
MAX_DESIGN_BYTES = 2_000_000
# A valid design nests a dozen levels of JSON (blocks at most designs.MAX_DEPTH deep); deeper
# input is refused before the validator walks (and describes) it, which would exhaust the stack.
MAX_JSON_DEPTH = 32
MAX_TRIGGER_TEXT = 300  # characters of one message or field name echoed in an HX-Trigger header


def _base_url() -> str:
    return current_app.config["BASE_URL"]


def _trigger(response, name: str, payload) -> None:
    response.headers["HX-Trigger"] = json.dumps({name: payload}, ensure_ascii=True)


def _short(value) -> str:
    value = str(value)
    return value if len(value) <= MAX_TRIGGER_TEXT else value[: MAX_TRIGGER_TEXT - 3] + "..."


def _json_depth(value) -> int:
    """How deeply lists and objects nest in `value` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _read_json(raw: str, field: str, what: str):
    """`raw` parsed, or ValidationError naming `field` when it is not JSON or nests absurdly deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    except ValueError:
        raise ValidationError(f"The {what} could not be read (it is not JSON).", {field: "not JSON"}) from None
    else:
        depth = _json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(
            f"The {what} is nested too deep to be read (at most {MAX_JSON_DEPTH} levels).", {field: "nested too deep"}
        )
    return value


def _posted_design():
    raw = request.form.get("design") or ""
    if len(raw) > MAX_DESIGN_BYTES:
        raise ValidationError("The design is larger than 2 MB.", {"design": "too large"})
    return _read_json(raw, "design", "design")


def _visual(template_id: int):
    return templates.get_template(g.ws_id, template_id)


def _report(tpl) -> dict:
    size = len((tpl.body_html or "").encode("utf-8"))
    return {
        "version": tpl.version,
        "sizeBytes": size,
        "sizeLabel": f"{size / 1024:.1f} KB",
        "clipped": size > designs.GMAIL_CLIP_BYTES,
        "warnings": list(getattr(tpl, "compile_warnings", []) or []),
    }


def rich_preview(text: str) -> Markup:
    """A text block's HTML for the canvas: the same cleaning as the email, expressions shown as text."""
    return Markup(canvas_html(text))


# -- New from a starter ------------------------------------------------------------------


@bp.route("/new/visual", methods=["GET", "POST"])
@workspace_view
def new_visual():
    errors = {}
    if request.method == "POST":
        key = request.form.get("starter") or "blank"
        try:
            if key == "blank":
                start = {
                    "name": "Untitled email",
                    "subject": "A subject people will open",
                    "preview_text": "",
                    "category": "marketing",
                    "design": starters.blank_design(),
                }
            else:
                start = starters.load_starter(key, _base_url())
        except DomainError as exc:
            errors = {"starter": exc.message}
        else:
            name = " ".join((request.form.get("name") or "").split()) or start["name"]
            data = {**start, "name": name, "template_type": "visual"}
            tpl, errors = attempt(templates.create_template, g.ws_id, data, current_user.id, "Created")
            if tpl:
                return redirect(url_for("email_templates.builder", template_id=tpl.id))
    return render_template(
        "email_templates/new_visual.html",
        starters=starters.STARTERS,
        store_starters=starters.TRANSACTIONAL_STARTERS,
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/starters/<key>/preview")
@workspace_view
def starter_preview(key):
    """A starter rendered with sample data, for the gallery's thumbnails (shown in a sandboxed iframe)."""
    start = starters.load_starter(key, _base_url()) if key != "blank" else {"design": starters.blank_design()}
    compiled = designs.compile_design(start["design"])
    out = templates.preview(_base_url(), start.get("subject") or "Preview", compiled.html, compiled.text, None)
    response = make_response(out["html"])
    response.headers["Content-Security-Policy"] = (
        # sandbox: opened on its own (not in the gallery's iframe), it is still no page of the dashboard's origin.
        "default-src 'none'; img-src 'self' data: https: http:; style-src 'unsafe-inline'; sandbox"
    )
    return response


# -- The builder -------------------------------------------------------------------------


@bp.route("/<int:template_id>/builder")
@workspace_view
def builder(template_id):
    tpl = _visual(template_id)
    if tpl.template_type != "visual":
        flash("This is a code template: edit its HTML directly.", "info")
        return redirect(url_for("email_templates.edit", template_id=tpl.id))
    defaults = {t: fields.default_block(t, _base_url()) for t in fields.DEFAULT_PROPS}
    sender_name, sender_email = workspaces.default_sender(g.ws_id)
    return render_template(
        "email_templates/builder/page.html",
        tpl=tpl,
        design=tpl.design,
        defaults=defaults,
        palette=fields.PALETTE,
        block_table=fields.BUILDER_TABLE,
        saved=saved_blocks.list_saved_blocks(g.ws_id),
        categories=TEMPLATE_CATEGORIES,
        fonts=fields.FONT_CHOICES,
        report=_report(tpl),
        subscribers=test_sends.preview_subscribers(g.ws_id, 50),
        sender_email=sender_email or current_user.email,
        sender_name=sender_name or g.workspace.name,
        labels=fields.TYPE_LABELS,
        icons=fields.TYPE_ICONS,
        rich_preview=rich_preview,
        upload_url=_url_or_empty("media.upload"),
        picker_url=_url_or_empty("media.picker"),
    )


def _url_or_empty(endpoint: str) -> str:
    return url_for(endpoint) if endpoint in current_app.view_functions else ""


@bp.route("/<int:template_id>/builder/save", methods=["POST"])
@workspace_view
def builder_save(template_id):
    """Validate and store the posted design; answer with the canvas, or with the problem."""
    tpl = _visual(template_id)
    try:
        tpl = templates.update_template(
            g.ws_id, template_id, _save_data(tpl), user_id=current_user.id, coalesce_seconds=AUTOSAVE_WINDOW
        )
    except ValidationError as exc:
        db.session.rollback()
        return _save_refused(exc)
    commit()
    response = make_response(
        render_template(
            "email_templates/builder/_canvas.html",
            design=tpl.design,
            labels=fields.TYPE_LABELS,
            icons=fields.TYPE_ICONS,
            rich_preview=rich_preview,
        )
    )
    # Not the design: the browser has it, and a large one would make a header proxies refuse.
    _trigger(response, "hb-saved", _report(tpl))
    return response


def _save_data(tpl) -> dict:
    """What an autosave changes: the design, and the email settings the form posted."""
    if tpl.template_type != "visual":  # converted in another tab: the builder must not turn it back
        raise ValidationError(
            "This is a code template now: the builder no longer saves it. Reload the page.",
            {"template_type": "code"},
        )
    data = {"design": _posted_design(), "template_type": "visual"}
    for name in ("name", "subject", "preview_text", "category"):
        if name in request.form:
            data[name] = request.form[name]
    return data


def _save_refused(exc: ValidationError):
    """The canvas stays as it is (no swap); the builder shows the problem from the trigger."""
    response = make_response("", 200)
    response.headers["HX-Reswap"] = "none"
    problems = {_short(k): _short(v) for k, v in (exc.fields or {}).items()}
    _trigger(response, "hb-invalid", {"message": _short(exc.message), "fields": problems})
    return response


@bp.route("/<int:template_id>/builder/panel", methods=["POST"])
@workspace_view
def builder_panel(template_id):
    """The properties panel for one block of the posted design (or the email's settings)."""
    tpl = _visual(template_id)
    design, block = _panel_block(tpl, request.form.get("block") or "")
    if block is None:
        return render_template(
            "email_templates/builder/_settings.html",
            tpl=tpl,
            design=design,
            categories=TEMPLATE_CATEGORIES,
            fonts=fields.FONT_CHOICES,
        )
    return render_template(
        "email_templates/builder/_panel.html",
        block=block,
        label=fields.TYPE_LABELS[block["type"]],
        icon=fields.TYPE_ICONS[block["type"]],
        fields=fields.panel_fields(block["type"], block["props"]),
        networks=fields.NETWORKS,
    )


def _panel_block(tpl, block_id: str) -> tuple[dict, dict | None]:
    """The design the panel reads (the posted one if it validates, else the stored one) and the block."""
    posted = None
    try:
        posted = _posted_design()
        design = designs.validate_design(posted)
    except ValidationError:
        design = tpl.design
    block = _find(design["blocks"], block_id) if block_id else None
    if block is None and block_id and isinstance(posted, dict):
        # The posted design does not validate yet (a field being fixed): the person may still
        # select a block that exists only there, so the panel is made from it as posted.
        block = _find_posted(posted.get("blocks"), block_id)
    return design, block


def _find(blocks: list, block_id: str):
    for b in blocks:
        if b["id"] == block_id:
            return b
        found = _find(b.get("children", []), block_id) or _find(b.get("else", []), block_id)
        if found:
            return found
    return None


def _find_posted(blocks, block_id: str, depth: int = 0):
    """`_find` over an unvalidated design: anything malformed is skipped, never trusted."""
    if not isinstance(blocks, list) or depth > designs.MAX_DEPTH:
        return None
    for b in blocks:
        if not isinstance(b, dict) or b.get("type") not in fields.TYPE_LABELS:
            continue
        if b.get("id") == block_id:
            props = b.get("props") if isinstance(b.get("props"), dict) else {}
            children = b.get("children") if isinstance(b.get("children"), list) else []
            return {"id": block_id, "type": b["type"], "props": props, "children": children}
        found = _find_posted(b.get("children"), block_id, depth + 1) or _find_posted(b.get("else"), block_id, depth + 1)
        if found:
            return found
    return None


@bp.route("/<int:template_id>/builder/preview", methods=["POST"])
@workspace_view
def builder_preview(template_id):
    """The saved email as a recipient would see it, for the sample or a chosen subscriber."""
    tpl = _visual(template_id)
    device = "mobile" if request.form.get("device") == "mobile" else "desktop"
    error = out = None
    try:
        subscriber = test_sends.subscriber_context(g.ws_id, request.form.get("subscriber_id") or None)
        out = templates.preview(
            _base_url(), tpl.subject, tpl.body_html, tpl.body_text, tpl.preview_text, {"subscriber": subscriber}
        )
        out["preview_text"] = tpl.preview_text
    except DomainError as exc:
        error = exc.message
    sender_name, sender_email = workspaces.default_sender(g.ws_id)
    return render_template(
        "email_templates/builder/_preview.html",
        out=out,
        error=error,
        device=device,
        sender=sender_name or g.workspace.name,
        report=_report(tpl),
    )


@bp.route("/<int:template_id>/builder/test", methods=["POST"])
@workspace_view
def builder_test(template_id):
    _visual(template_id)
    f = request.form
    results, errors = _attempt_with_message(
        test_sends.send_test,
        g.ws_id,
        template_id,
        f.get("emails", ""),
        f.get("from_email"),
        f.get("from_name"),
        f.get("subscriber_id") or None,
    )
    return render_template("email_templates/builder/_test_result.html", results=results, errors=errors)


@bp.route("/<int:template_id>/builder/blocks", methods=["POST"])
@workspace_view
def builder_save_block(template_id):
    """Keep a block (with what it holds) for reuse; answers with the palette's saved blocks."""
    _visual(template_id)
    error = None
    try:
        block = _read_json(request.form.get("block") or "null", "block", "block")
    except ValidationError as exc:
        saved, error = None, exc.message
    else:
        saved, errors = _attempt_with_message(saved_blocks.create_saved_block, g.ws_id, request.form.get("name"), block)
        error = errors.get("form")
    response = make_response(
        render_template(
            "email_templates/builder/_saved_blocks.html", saved=saved_blocks.list_saved_blocks(g.ws_id), error=error
        )
    )
    if saved:
        _trigger(response, "hb-block-saved", {"name": saved.name})
    return response


@bp.route("/<int:template_id>/builder/blocks/<int:block_id>/delete", methods=["POST"])
@workspace_view
def builder_delete_block(template_id, block_id):
    _visual(template_id)
    _, errors = _attempt_with_message(saved_blocks.delete_saved_block, g.ws_id, block_id)
    return render_template(
        "email_templates/builder/_saved_blocks.html",
        saved=saved_blocks.list_saved_blocks(g.ws_id),
        error=errors.get("form"),
    )


def _attempt_with_message(action, *args):
    """`attempt_quietly`, keeping the service's sentence (its fields hold short codes such as "required")."""
    try:
        result = action(*args)
        commit()
        return result, {}
    except DomainError as exc:
        db.session.rollback()
        return None, {"form": exc.message}


# -- Versions and conversion ----------------------------------------------------------------


@bp.route("/<int:template_id>/versions")
@workspace_view
def versions(template_id):
    tpl = templates.get_template(g.ws_id, template_id)
    return render_template(
        "email_templates/versions.html", tpl=tpl, versions=templates.list_versions(g.ws_id, template_id)
    )


@bp.route("/<int:template_id>/versions/<int:number>")
@workspace_view
def version(template_id, number):
    tpl = templates.get_template(g.ws_id, template_id)
    v = templates.get_version(g.ws_id, template_id, number)
    error = out = None
    try:
        out = templates.preview(_base_url(), v.subject, v.body_html, v.body_text, v.preview_text)
    except ValidationError as exc:
        error = exc.message
    return render_template("email_templates/version.html", tpl=tpl, v=v, out=out, error=error)


@bp.route("/<int:template_id>/versions/<int:number>/restore", methods=["POST"])
@workspace_view
def restore(template_id, number):
    templates.get_template(g.ws_id, template_id)  # another workspace's template: 404, not a redirect
    tpl, errors = attempt(templates.restore_version, g.ws_id, template_id, number, current_user.id)
    if tpl:
        flash(f"Version {number} restored as version {tpl.version}.", "success")
        target = "email_templates.builder" if tpl.template_type == "visual" else "email_templates.edit"
        return redirect(url_for(target, template_id=template_id))
    return redirect(url_for("email_templates.versions", template_id=template_id))


@bp.route("/<int:template_id>/convert", methods=["POST"])
@workspace_view
def convert(template_id):
    templates.get_template(g.ws_id, template_id)  # another workspace's template: 404, not a redirect
    tpl, errors = attempt(templates.convert_to_code, g.ws_id, template_id, current_user.id)
    if tpl:
        flash("Converted to a code template: edit its HTML directly. The design is kept in the history.", "success")
    return redirect(url_for("email_templates.edit", template_id=template_id))
