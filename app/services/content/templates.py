"""Email templates: validation, storage, versions and previews.

A code template is the HTML a person wrote. A visual template carries a design (API.md
"Visual design JSON"); every save compiles it to body_html and body_text, so sending never
needs to know which kind it was. Every save is a version that can be viewed and restored.
"""

import re
import unicodedata
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, Template, TemplateVersion
from app.models.content import TEMPLATE_CATEGORIES, TEMPLATE_TYPES
from app.services import designs
from app.services.content.html_text import unsafe_html_problems
from app.services.content.rendering import (
    SAMPLE_SUBSCRIBER,
    TemplateProblem,
    build_context,
    check_syntax,
    limit_problems,
    render_once,
)
from app.services.delivery import pools
from app.services.delivery.identities import clean_identity_id
from app.services.errors import Conflict, InvalidState, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform import audit

MAX_HTML = 1_000_000
_FIELDS = ("name", "subject", "body_html", "body_text", "preview_text", "category", "template_type", "design")
_VERSIONED = ("template_type", "subject", "preview_text", "body_html", "body_text", "design")

# Event data that dynamic blocks loop over, so a preview of an abandoned-cart or receipt
# email shows something; a real send passes the event's own data.
SAMPLE_EVENT_DATA = {
    "cart": {
        "url": "https://shop.example.com/cart",
        "total": 124.5,
        "currency": "EUR",
        "items": [
            {
                "name": "Linen shirt",
                "quantity": 1,
                "price": 59.0,
                "url": "https://shop.example.com/p/linen-shirt",
                "image_url": "{base_url}/static/img/starters/product-throw.png",
            },
            {
                "name": "Canvas tote",
                "quantity": 2,
                "price": 32.75,
                "url": "https://shop.example.com/p/canvas-tote",
                "image_url": "{base_url}/static/img/starters/product-mug.png",
            },
        ],
    },
    "order": {
        "number": "10482",
        "url": "https://shop.example.com/orders/10482",
        "date": "24 November 2026",
        "subtotal": 91.5,
        "shipping": 4.9,
        "total": 96.4,
        "currency": "EUR",
        "items": [
            {
                "name": "Linen shirt",
                "quantity": 1,
                "price": 59.0,
                "image_url": "{base_url}/static/img/starters/product-throw.png",
            },
            {
                "name": "Canvas tote",
                "quantity": 1,
                "price": 32.5,
                "image_url": "{base_url}/static/img/starters/product-mug.png",
            },
        ],
    },
    # The store mailers' context (starters/TRANSACTIONAL_STARTERS), as a shop would send it.
    "reset_url": "https://shop.example.com/account/reset?token=3f9c2e71",
    "code": "482 915",
    "expires_in": "15 minutes",
    "shipment": {
        "carrier": "DHL Express",
        "tracking_number": "JD014600006281230871",
        "tracking_url": "https://shop.example.com/track/JD014600006281230871",
        "estimated_delivery": "Thursday 26 November",
        "address": "Jane Doe, Rua das Flores 12, 1200-195 Lisboa, Portugal",
        "items": [{"name": "Linen shirt", "quantity": 1}, {"name": "Canvas tote", "quantity": 1}],
    },
    "gift_card": {
        "amount": 50,
        "currency": "EUR",
        "code": "NWS-7KQ4-XP2M-9RTA",
        "sender_name": "Sam",
        "message": "Happy birthday! Treat yourself to something nice.",
        "redeem_url": "https://shop.example.com/gift-cards/redeem",
        "expires_on": "24 November 2027",
    },
    "payout": {
        "amount": 1284.6,
        "currency": "EUR",
        "account": "•••• 4821",
        "date": "27 November 2026",
        "reference": "PO-2026-11-0193",
        "url": "https://shop.example.com/seller/payouts/PO-2026-11-0193",
    },
    "product": {
        "name": "Fig & cedar candle",
        "url": "https://shop.example.com/p/fig-cedar-candle",
        "image_url": "{base_url}/static/img/starters/product-candle.png",
        "price": 16.25,
        "currency": "EUR",
    },
    # A flow's email: the trigger's event (automation/recipe_emails.py), here a cart that also names a
    # product and an order, so every ready-made flow's email previews with something in it.
    "event": {
        "type": "cart_updated",
        "occurred_at": "2026-11-24T18:32:00+00:00",
        "properties": {
            "cart_url": "https://shop.example.com/cart",
            "total": 124.5,
            "currency": "EUR",
            "items": [
                {
                    "sku": "LS-01",
                    "name": "Linen shirt",
                    "quantity": 1,
                    "price": 59.0,
                    "url": "https://shop.example.com/p/linen-shirt",
                    "image_url": "{base_url}/static/img/starters/product-throw.png",
                },
                {
                    "sku": "CT-02",
                    "name": "Canvas tote",
                    "quantity": 2,
                    "price": 32.75,
                    "url": "https://shop.example.com/p/canvas-tote",
                    "image_url": "{base_url}/static/img/starters/product-mug.png",
                },
            ],
            "sku": "FC-03",
            "name": "Fig & cedar candle",
            "url": "https://shop.example.com/p/fig-cedar-candle",
            "image_url": "{base_url}/static/img/starters/product-candle.png",
            "price": "16.25",
            "old_price": "21.00",
            "new_price": "16.25",
            "order_id": "10482",
        },
    },
    "data": {"plan": "pro", "trial_days": 14},  # what an app sent with POST /flows/{id}/enroll
    "flow": {"entered_at": "2026-11-24T18:32:00+00:00"},
}


def _validate(data: dict) -> dict:
    errors = {}
    name = " ".join((data.get("name") or "").split())
    subject = (data.get("subject") or "").strip()
    html = data.get("body_html") or ""
    text = data.get("body_text") or None
    preview = (data.get("preview_text") or "").strip() or None
    category = data.get("category") or "marketing"
    template_type = data.get("template_type") or "code"
    design = data.get("design")
    _check_labels(errors, name, subject, template_type, category)
    compiled = design_message = None
    if template_type == "visual":
        design, compiled, design_message = _compile_visual(errors, design, category)
        html = compiled.html if compiled else "<p></p>"
        text = compiled.text if compiled else None
    _check_sizes(errors, html, text, preview)
    _check_sources(
        errors,
        (
            ("subject", subject, False),
            ("body_html", html, True),
            ("body_text", text, False),
            ("preview_text", preview, False),
        ),
    )
    if "body_html" not in errors and template_type == "code":
        _check_code_html(errors, html, category)
    if errors:
        raise ValidationError(_summary(errors, design_message), errors)
    return {
        "name": name,
        "subject": subject,
        "body_html": html,
        "body_text": text,
        "preview_text": preview,
        "category": category,
        "template_type": template_type,
        "design": design if template_type == "visual" else data.get("design"),
        "_warnings": list(compiled.warnings) if compiled else [],
    }


def _check_labels(errors: dict, name: str, subject: str, template_type: str, category: str) -> None:
    """Add the problems with the name, subject, type and category to `errors`."""
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if not subject:
        errors["subject"] = "A subject is required."
    elif len(subject) > 500 or "\n" in subject or "\r" in subject:
        errors["subject"] = "The subject must be one line of at most 500 characters."
    if template_type not in TEMPLATE_TYPES:
        errors["template_type"] = "Choose code (you write the HTML) or visual (built from blocks)."
    if category not in TEMPLATE_CATEGORIES:
        errors["category"] = f"Choose one of: {', '.join(TEMPLATE_CATEGORIES)}."


def _compile_visual(errors: dict, design, category: str) -> tuple:
    """(design, compiled, design's own message): the design validated and compiled, or its problems in `errors`.

    The unsubscribe check needs a valid category, so an invalid one skips it (its own error says why).
    """
    if design is None:
        errors["design"] = "A visual template needs a design."
        return design, None, None
    try:
        design = designs.validate_design(design)
        if "category" not in errors:
            designs.require_unsubscribe(design, category)
        return design, designs.compile_design(design), None
    except ValidationError as exc:
        errors.update(exc.fields or {"design": exc.message})
        return design, None, exc.message


def _check_sizes(errors: dict, html: str, text: str | None, preview: str | None) -> None:
    """Add an empty or oversized body, or an overlong preview text, to `errors`."""
    if not html.strip():
        errors["body_html"] = "The HTML body is empty."
    elif len(html) > MAX_HTML:
        errors["body_html"] = "The HTML body is larger than 1 MB."
    if preview and len(preview) > 500:
        errors["preview_text"] = "Keep the preview text under 500 characters."
    if text and len(text) > MAX_HTML:
        errors["body_text"] = "The text body is larger than 1 MB."


def _check_code_html(errors: dict, html: str, category: str) -> None:
    """Hand-written HTML must be safe and, unless transactional, link to the unsubscribe page."""
    problems = unsafe_html_problems(html)
    if problems:
        errors["body_html"] = "; ".join(problems)
    elif category != "transactional" and "unsubscribe_url" not in html:
        errors["body_html"] = (
            "Marketing email must let people unsubscribe: add a link to {{ unsubscribe_url }} (usually in the footer)."
        )


def _summary(errors: dict, design_message: str | None) -> str:
    """The one message a form shows above its fields for these errors."""
    only_design = design_message and all(k == "design" or k.startswith(("blocks", "settings")) for k in errors)
    if only_design:
        return design_message
    if len(set(errors.values())) == 1:  # one problem (a design's HTML and text part share theirs)
        return next(iter(errors.values()))
    return "Please correct the highlighted fields."


def _check_sources(errors: dict, sources: tuple) -> None:
    """Add each part's Jinja syntax error to `errors`; with none anywhere, each part's limit error."""
    for field, source, is_html in sources:
        if field in errors:
            continue
        try:
            check_syntax(field, source, html=is_html)
        except TemplateProblem as exc:
            errors[field] = f"Template error on {exc.message}"
    if not errors:
        # A template that would loop for minutes or build gigabytes for every recipient is refused
        # when it is saved, not found out by the sending worker.
        errors.update(limit_problems(sources, _sample_context("")))


_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")
MAX_SLUG = 100


def slugify(name: str) -> str:
    """A name as the slug the API can name a template by: "Order confirmation" -> "order-confirmation"."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80] or "template"


def _slug_taken(workspace_id: int, slug: str, template_id: int | None) -> bool:
    query = select(Template.id).where(Template.workspace_id == workspace_id, Template.slug == slug)
    if template_id is not None:
        query = query.where(Template.id != template_id)
    return db.session.scalar(query.limit(1)) is not None


def _choose_slug(workspace_id: int, requested, name: str, current: str | None, template_id: int | None) -> str:
    """The slug asked for (checked and unique in the workspace), else the current one, else one from the name."""
    requested = (requested or "").strip() if isinstance(requested, str) else requested
    if not requested:
        if current:
            return current
        base = slugify(name)
        slug, n = base, 1
        while _slug_taken(workspace_id, slug, template_id):
            n += 1
            slug = f"{base}-{n}"
        return slug
    if not isinstance(requested, str) or len(requested) > MAX_SLUG or not _SLUG_RE.match(requested):
        message = "A slug is lower-case letters, digits and single hyphens, e.g. order-confirmation (at most 100)."
        raise ValidationError(message, {"slug": message})
    if _slug_taken(workspace_id, requested, template_id):
        message = f"Another template of this workspace is already called “{requested}”."
        raise ValidationError(message, {"slug": message})
    return requested


def _apply(tpl: Template, clean: dict) -> None:
    # Warnings (missing alt text, Gmail clipping) are not stored: they ride on the object for
    # whoever saved it to show.
    tpl.compile_warnings = clean.pop("_warnings")
    for k, v in clean.items():
        setattr(tpl, k, v)


def sample_event_data(base_url: str) -> dict:
    """SAMPLE_EVENT_DATA with its images served by this Herald (previews load nothing from elsewhere)."""

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value.replace("{base_url}", base_url) if isinstance(value, str) else value

    return fill(SAMPLE_EVENT_DATA)


def _identity(workspace_id: int, value) -> int | None:
    """The sending identity transactional sends of the template come from (not content: no new version)."""
    try:
        return clean_identity_id(workspace_id, value)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"identity_id": exc.message}) from None


def _pool(workspace_id: int, value) -> int | None:
    """The sending pool transactional sends of the template go through (None: the transactional lane)."""
    if value in (None, ""):
        return None
    try:
        return pools.get_pool(workspace_id, as_id(value) or 0).id
    except NotFound:
        message = "Choose one of this workspace's sending pools."
        raise ValidationError(message, {"pool_id": message}) from None


def create_template(workspace_id: int, data: dict, user_id: int | None = None, note: str | None = None) -> Template:
    """Validate and store a template (code, or visual with its design compiled); version 1 is recorded."""
    fields = {k: data.get(k) for k in _FIELDS}
    if fields["template_type"] != "visual":
        fields["design"] = None  # only a visual template (or one converted from it) has a design
    clean = _validate(fields)
    tpl = Template(workspace_id=workspace_id, version=0, identity_id=_identity(workspace_id, data.get("identity_id")))
    tpl.pool_id = _pool(workspace_id, data.get("pool_id"))
    tpl.slug = _choose_slug(workspace_id, data.get("slug"), clean["name"], None, None)
    _apply(tpl, clean)
    db.session.add(tpl)
    db.session.flush()
    _record_version(tpl, user_id, note or "Created")
    return tpl


def update_template(
    workspace_id: int,
    template_id: int,
    data: dict,
    user_id: int | None = None,
    note: str | None = None,
    coalesce_seconds: int = 0,
) -> Template:
    """Validate and save; a save that changes the content is a new version.

    `coalesce_seconds` lets the builder's autosave fold a burst of edits by one person into
    their latest version instead of writing one version per keystroke.
    """
    tpl = get_template(workspace_id, template_id)
    if (data.get("template_type", tpl.template_type) or "code") == "code":
        data = {k: v for k, v in data.items() if k != "design"}  # a converted template's design stays frozen
    merged = {k: data.get(k, getattr(tpl, k)) for k in _FIELDS}
    clean = _validate(merged)
    tpl.slug = _choose_slug(workspace_id, data.get("slug"), clean["name"], tpl.slug, tpl.id)
    if "identity_id" in data:
        tpl.identity_id = _identity(workspace_id, data["identity_id"])
    if "pool_id" in data:
        tpl.pool_id = _pool(workspace_id, data["pool_id"])
    changed = any(clean[k] != getattr(tpl, k) for k in _VERSIONED)
    _apply(tpl, clean)
    db.session.flush()
    if changed:
        latest = _latest_version(tpl.id)
        if (
            coalesce_seconds
            and latest is not None
            and latest.created_by == user_id
            and latest.note == (note or "Saved")
            and _aware(latest.created_at) > datetime.now(timezone.utc) - timedelta(seconds=coalesce_seconds)
        ):
            _copy_into(latest, tpl)
            db.session.flush()
        else:
            _record_version(tpl, user_id, note or "Saved")
    return tpl


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _copy_into(version: TemplateVersion, tpl: Template) -> None:
    for k in _VERSIONED:
        setattr(version, k, getattr(tpl, k))
    version.updated_at = datetime.now(timezone.utc)


def _record_version(tpl: Template, user_id: int | None, note: str) -> TemplateVersion:
    # Numbers come from the template row, which the save has already locked (UPDATE).
    tpl.version = (tpl.version or 0) + 1
    version = TemplateVersion(template_id=tpl.id, number=tpl.version, created_by=user_id, note=note[:200])
    _copy_into(version, tpl)
    db.session.add(version)
    db.session.flush()
    return version


def _latest_version(template_id: int) -> TemplateVersion | None:
    return db.session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(TemplateVersion.number.desc())
    )


def list_versions(workspace_id: int, template_id: int) -> list[TemplateVersion]:
    tpl = get_template(workspace_id, template_id)
    return list(
        db.session.scalars(
            select(TemplateVersion).where(TemplateVersion.template_id == tpl.id).order_by(TemplateVersion.number.desc())
        )
    )


def get_version(workspace_id: int, template_id: int, number: int) -> TemplateVersion:
    tpl = get_template(workspace_id, template_id)
    version = db.session.scalar(
        select(TemplateVersion).where(TemplateVersion.template_id == tpl.id, TemplateVersion.number == number)
    )
    if version is None:
        raise NotFound(f"This template has no version {number}.")
    return version


def restore_version(workspace_id: int, template_id: int, number: int, user_id: int | None = None) -> Template:
    """Make an earlier version current again; the restore is itself a new version."""
    old = get_version(workspace_id, template_id, number)
    data = {k: getattr(old, k) for k in _VERSIONED}
    return update_template(workspace_id, template_id, data, user_id=user_id, note=f"Restored version {number}")


def convert_to_code(workspace_id: int, template_id: int, user_id: int | None = None) -> Template:
    """A visual template becomes a code template: its compiled HTML is edited directly from now on.

    The design stays on the template, frozen, so nothing of it is lost; the builder no longer opens it.
    """
    tpl = get_template(workspace_id, template_id)
    if tpl.template_type != "visual":
        raise InvalidState("This template is already a code template.")
    tpl.template_type = "code"
    db.session.flush()
    _record_version(tpl, user_id, "Converted to code")
    return tpl


def version_count(template_id: int) -> int:
    return db.session.scalar(select(func.count()).where(TemplateVersion.template_id == template_id)) or 0


def get_template(workspace_id: int, template_id: int) -> Template:
    tpl = db.session.scalar(select(Template).where(Template.id == template_id, Template.workspace_id == workspace_id))
    if tpl is None:
        raise NotFound("No such template.")
    return tpl


def list_templates(workspace_id: int, template_type: str | None = None) -> list[Template]:
    query = select(Template).where(Template.workspace_id == workspace_id)
    if template_type:
        query = query.where(Template.template_type == template_type)
    return list(db.session.scalars(query.order_by(Template.updated_at.desc(), Template.id.desc())))


def delete_template(workspace_id: int, template_id: int) -> None:

    tpl = get_template(workspace_id, template_id)
    if db.session.scalar(select(Campaign.id).where(Campaign.template_id == tpl.id).limit(1)):
        raise Conflict("Campaigns use this template: it cannot be deleted.")
    tpl_id, detail = tpl.id, {"name": tpl.name}
    db.session.delete(tpl)
    db.session.flush()
    audit.record(workspace_id, "template.delete", "template", tpl_id, detail)


def _sample_context(base_url: str, context: dict | None = None, campaign_name: str = "Sample campaign") -> dict:
    """What a preview renders with: the sample subscriber and event data, with `context` over them."""
    subscriber = dict(SAMPLE_SUBSCRIBER)
    extra = {}
    if isinstance(context, dict):
        if isinstance(context.get("subscriber"), dict):
            subscriber.update(context["subscriber"])
        extra = {k: v for k, v in context.items() if k not in ("subscriber",)}
    extra = {**sample_event_data(base_url), **extra}
    return build_context(
        subscriber,
        campaign_name,
        f"{base_url}/u/sample",
        f"{base_url}/preferences/sample",
        f"{base_url}/v/sample",
        extra,
        base_url=base_url,
    )


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
    ctx = _sample_context(base_url, context, campaign_name)
    try:
        out = render_once(subject, body_html, body_text, preview_text, ctx)
        # The preheader as the inbox shows it, beside the subject (rendered like a one-line subject).
        preheader = render_once(preview_text, "", "", None, ctx).subject if preview_text else None
    except TemplateProblem as exc:
        raise ValidationError(f"The template cannot be rendered: {exc.message}", {exc.field: exc.message}) from None
    return {"subject": out.subject, "preview_text": preheader, "html": out.html, "text": out.text}
