"""Email templates: validation, storage and previews."""

from sqlalchemy import select

from app.extensions import db
from app.models import Template
from app.models.content import TEMPLATE_CATEGORIES
from app.services.errors import NotFound, ValidationError
from app.services.html_text import unsafe_html_problems
from app.services.rendering import SAMPLE_SUBSCRIBER, TemplateProblem, build_context, check_syntax, render_once

MAX_HTML = 1_000_000
_FIELDS = ("name", "subject", "body_html", "body_text", "preview_text", "category", "template_type")


def _validate(data: dict) -> dict:
    errors = {}
    name = " ".join((data.get("name") or "").split())
    subject = (data.get("subject") or "").strip()
    html = data.get("body_html") or ""
    text = data.get("body_text") or None
    preview = (data.get("preview_text") or "").strip() or None
    category = data.get("category") or "marketing"
    template_type = data.get("template_type") or "code"
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if not subject:
        errors["subject"] = "A subject is required."
    elif len(subject) > 500 or "\n" in subject or "\r" in subject:
        errors["subject"] = "The subject must be one line of at most 500 characters."
    if template_type != "code":
        errors["template_type"] = "Only code templates exist yet; the visual builder arrives later."
    if category not in TEMPLATE_CATEGORIES:
        errors["category"] = f"Choose one of: {', '.join(TEMPLATE_CATEGORIES)}."
    if not html.strip():
        errors["body_html"] = "The HTML body is empty."
    elif len(html) > MAX_HTML:
        errors["body_html"] = "The HTML body is larger than 1 MB."
    if preview and len(preview) > 500:
        errors["preview_text"] = "Keep the preview text under 500 characters."
    if text and len(text) > MAX_HTML:
        errors["body_text"] = "The text body is larger than 1 MB."
    for field, source, is_html in (
        ("subject", subject, False),
        ("body_html", html, True),
        ("body_text", text, False),
        ("preview_text", preview, False),
    ):
        if field in errors:
            continue
        try:
            check_syntax(field, source, html=is_html)
        except TemplateProblem as exc:
            errors[field] = f"Template error on {exc.message}"
    if "body_html" not in errors:
        problems = unsafe_html_problems(html)
        if problems:
            errors["body_html"] = "; ".join(problems)
        elif category != "transactional" and "unsubscribe_url" not in html:
            errors["body_html"] = (
                "Marketing email must let people unsubscribe: add a link to "
                "{{ unsubscribe_url }} (usually in the footer)."
            )
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    return {
        "name": name,
        "subject": subject,
        "body_html": html,
        "body_text": text,
        "preview_text": preview,
        "category": category,
        "template_type": template_type,
    }


def create_template(workspace_id: int, data: dict) -> Template:
    """Validate and store a code template."""
    clean = _validate({k: data.get(k) for k in _FIELDS})
    tpl = Template(workspace_id=workspace_id, **clean)
    db.session.add(tpl)
    db.session.flush()
    return tpl


def update_template(workspace_id: int, template_id: int, data: dict) -> Template:
    tpl = get_template(workspace_id, template_id)
    merged = {k: data.get(k, getattr(tpl, k)) for k in _FIELDS}
    for k, v in _validate(merged).items():
        setattr(tpl, k, v)
    db.session.flush()
    return tpl


def get_template(workspace_id: int, template_id: int) -> Template:
    tpl = db.session.scalar(select(Template).where(Template.id == template_id, Template.workspace_id == workspace_id))
    if tpl is None:
        raise NotFound("No such template.")
    return tpl


def list_templates(workspace_id: int) -> list[Template]:
    return list(
        db.session.scalars(
            select(Template).where(Template.workspace_id == workspace_id).order_by(Template.updated_at.desc())
        )
    )


def delete_template(workspace_id: int, template_id: int) -> None:
    from app.models import Campaign
    from app.services.errors import Conflict

    tpl = get_template(workspace_id, template_id)
    if db.session.scalar(select(Campaign.id).where(Campaign.template_id == tpl.id).limit(1)):
        raise Conflict("Campaigns use this template: it cannot be deleted.")
    db.session.delete(tpl)
    db.session.flush()


def preview(
    base_url: str,
    subject: str,
    body_html: str,
    body_text: str | None,
    preview_text: str | None,
    context: dict | None = None,
    campaign_name: str = "Sample campaign",
) -> dict:
    """Render a template with sample (or given) data; a problem raises ValidationError naming its field."""
    for field, label, source, is_html in (
        ("subject", "Subject", subject, False),
        ("body_html", "HTML", body_html, True),
        ("body_text", "Plain text", body_text, False),
        ("preview_text", "Preview text", preview_text, False),
    ):
        try:
            check_syntax(field, source, html=is_html)
        except TemplateProblem as exc:
            raise ValidationError(f"{label}, {exc.message}", {field: exc.message}) from None
    subscriber = dict(SAMPLE_SUBSCRIBER)
    extra = {}
    if isinstance(context, dict):
        if isinstance(context.get("subscriber"), dict):
            subscriber.update(context["subscriber"])
        extra = {k: v for k, v in context.items() if k not in ("subscriber",)}
    ctx = build_context(
        subscriber,
        campaign_name,
        f"{base_url}/u/sample",
        f"{base_url}/preferences/sample",
        f"{base_url}/v/sample",
        extra,
    )
    try:
        out = render_once(subject, body_html, body_text, preview_text, ctx)
    except TemplateProblem as exc:
        raise ValidationError(f"The template cannot be rendered: {exc.message}", {exc.field: exc.message}) from None
    return {"subject": out.subject, "html": out.html, "text": out.text}
