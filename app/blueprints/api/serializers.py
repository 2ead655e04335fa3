"""Rows to the JSON shapes the schemas describe; credentials never leave as values."""

from datetime import datetime

from app.models import (
    Campaign,
    CampaignRecipient,
    MailingList,
    MediaFile,
    Message,
    Provider,
    SavedBlock,
    Subscriber,
    Template,
    TemplateVersion,
)
from app.services.audience.preferences import CategoryCounts, subscriber_preferences
from app.services.audience.tags import tags_of
from app.services.campaigns.pages import CampaignPage
from app.services.campaigns.settings import SETTINGS, Setting
from app.services.delivery.providers import credentials_summary, sent_today, webhook_url
from app.services.platform.alerts import action_link


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def provider_json(p: Provider) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "provider_type": p.provider_type,
        "settings": p.settings or {},
        "credentials": credentials_summary(p),
        "sandbox_mode": p.sandbox_mode,
        "provider_tracking": p.provider_tracking,
        "webhook_url": webhook_url(p),
        "sent_today": sent_today(p),
        "is_default": p.is_default,
        "priority": p.priority,
        "max_sends_per_second": p.max_sends_per_second,
        "max_sends_per_day": p.max_sends_per_day,
        "last_check_at": iso(p.last_check_at),
        "last_check_status": p.last_check_status,
        "last_error": p.last_error,
        "created_at": iso(p.created_at),
    }


def list_json(lst: MailingList, subscriber_count: int) -> dict:
    return {
        "id": lst.id,
        "name": lst.name,
        "description": lst.description,
        "subscriber_count": subscriber_count,
        "created_at": iso(lst.created_at),
        "double_opt_in": bool(lst.double_opt_in),
        "confirmation_template_id": lst.confirmation_template_id,
    }


def subscriber_json(s: Subscriber, list_ids: list[int] | None = None, tags: list[str] | None = None) -> dict:
    """A subscriber; `tags` looked up when not given (a page passes them, read in one query)."""
    data = {
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "status": s.status,
        "attributes": s.attributes or {},
        "timezone": s.timezone,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "unsubscribed_at": iso(s.unsubscribed_at),
        "tags": tags_of(s.id) if tags is None else tags,
        "source": s.source,
        "consent": s.consent,
        "confirmed_at": iso(s.confirmed_at),
        "phone": s.phone,
        "sms_status": s.sms_status or "none",
        "sms_consent": s.sms_consent,
    }
    if list_ids is not None:  # one subscriber (Subscriber), not a page of them (SubscriberSummary)
        data["lists"] = list_ids
        data["preferences"] = preferences_json(subscriber_preferences(s.workspace_id, s.id))
    return data


def category_json(c, counts=None) -> dict:
    """A category (audience/preferences.py) with its CategoryCounts."""
    n = counts or CategoryCounts()
    return {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "counts": {k: getattr(n, k) for k in ("opted_out", "immediate", "daily", "weekly", "monthly")},
        "created_at": iso(c.created_at),
    }


def preferences_json(choices) -> dict:
    """A person's choice per category (preferences.subscriber_preferences), keyed by category id."""
    return {str(c.category.id): {"subscribed": c.subscribed, "frequency": c.frequency} for c in choices}


def template_json(t: Template, full: bool = True) -> dict:
    data = {
        "id": t.id,
        "name": t.name,
        "slug": t.slug,
        "subject": t.subject,
        "preview_text": t.preview_text,
        "category": t.category,
        "template_type": t.template_type,
        "identity_id": t.identity_id,
        "pool_id": t.pool_id,
        "version": t.version or 0,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }
    if full:
        data.update(body_html=t.body_html, body_text=t.body_text, design=t.design)
    return data


def design_json(t: Template, size_bytes: int | None = None, warnings: list[str] | None = None) -> dict:
    """A visual template as the builder sees it; the full form when the compile's size and warnings are given."""
    data = template_json(t, full=False)
    if size_bytes is not None:
        data.update(design=t.design, size_bytes=size_bytes, warnings=list(warnings or []))
    return data


def version_json(v: TemplateVersion, full: bool = False) -> dict:
    data = {
        "number": v.number,
        "note": v.note,
        "created_at": iso(v.created_at),
        "created_by": v.created_by,
        "template_type": v.template_type,
        "subject": v.subject,
    }
    if full:
        data.update(preview_text=v.preview_text, body_html=v.body_html, body_text=v.body_text, design=v.design)
    return data


def saved_block_json(b: SavedBlock) -> dict:
    return {
        "id": b.id,
        "name": b.name,
        "blocks": b.blocks,
        "created_at": iso(b.created_at),
        "updated_at": iso(b.updated_at),
    }


def image_json(m: MediaFile) -> dict:
    return {
        "id": m.id,
        "url": m.url,
        "filename": m.filename,
        "content_type": m.content_type,
        "size_bytes": m.size_bytes,
        "width": m.width,
        "height": m.height,
        "created_at": iso(m.created_at),
    }


def campaign_json(c: Campaign) -> dict:
    """A campaign as lists show it (CampaignSummary)."""
    return {
        "id": c.id,
        "status": c.status,
        "category": c.category,
        "total_recipients": c.total_recipients,
        "created_at": iso(c.created_at),
        "started_at": iso(c.started_at),
        "completed_at": iso(c.completed_at),
        "scheduled_at": iso(c.scheduled_at),
        "paused_at": iso(c.paused_at),
        "parent_id": c.parent_id,
        "next_run_at": iso(c.next_run_at),
        **{s.name: _setting_json(s, c) for s in SETTINGS if s.in_summary},
    }


def campaign_detail_json(page: CampaignPage) -> dict:
    """A campaign with all its settings, its figures and its wait for the send window (Campaign)."""
    c, wait = page.campaign, page.progress.window_wait
    return {
        **campaign_json(c),
        **{s.name: _setting_json(s, c, page.targets.as_dict()) for s in SETTINGS if not s.in_summary},
        "last_error": c.last_error,
        "updated_at": iso(c.updated_at),
        "stats": page.progress.stats,
        "waiting_for_window": wait.get("recipients", 0),
        "window_resumes_at": iso(wait.get("resumes_at")),
        "ab_test": c.ab_test or None,
        "ab_phase": c.ab_phase,
        "replies": c.replies,
        "holdout": page.holdout,
    }


def _setting_json(setting: Setting, c: Campaign, targets: dict | None = None):
    if not setting.column:  # the audience's targets (campaigns/audience.py)
        return sorted((targets or {}).get(setting.name) or [])
    value = getattr(c, setting.name)
    return (value or None) if setting.is_object else value


def campaign_run_json(run: dict) -> dict:
    """A run of a recurring campaign (recurring.with_figures) with its figures."""
    c = run["campaign"]
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "started_at": iso(c.started_at),
        "completed_at": iso(c.completed_at),
        "total_recipients": c.total_recipients,
        "sent": run["sent"],
        "unique_opens": run["unique_opens"],
        "unique_clicks": run["unique_clicks"],
        "pending": run["pending"],
    }


def recipient_json(r: CampaignRecipient) -> dict:
    return {
        "email": r.email,
        "status": r.status,
        "reason": r.reason,
        "sent_at": iso(r.sent_at),
        "opened_at": iso(r.opened_at),
        "clicked_at": iso(r.clicked_at),
        "mailbox_provider": r.mailbox_provider,
        "identity_id": r.identity_id,
    }


def message_json(m: Message, full: bool = True) -> dict:
    data = {
        "id": m.id,
        "status": m.status,
        "reason": m.reason,
        "to": m.to_email,
        "to_name": m.to_name,
        "subscriber_id": m.subscriber_id,
        "template_id": m.template_id,
        "template_name": m.template_name,
        "subject": m.subject,
        "category": m.category,
        "from_email": m.from_email,
        "from_name": m.from_name,
        "reply_to": m.reply_to,
        "provider_id": m.provider_id,
        "message_id": m.message_id,
        "track_opens": m.track_opens,
        "track_clicks": m.track_clicks,
        "idempotency_key": m.idempotency_key,
        "created_at": iso(m.created_at),
        "sent_at": iso(m.sent_at),
        "opened_at": iso(m.opened_at),
        "clicked_at": iso(m.clicked_at),
    }
    if full:
        data["context"] = m.context or {}
    return data


def page_json(items: list[dict], total: int, query: dict) -> dict:
    return {"items": items, "page": query["page"], "per_page": query["per_page"], "total": total}


def page_slice(items: list[dict], query: dict) -> dict:
    """One page of a list already in memory (a workspace's lists, providers, templates)."""
    start = (query["page"] - 1) * query["per_page"]
    return page_json(items[start : start + query["per_page"]], len(items), query)


def variants_json(report: dict) -> dict:
    """A campaign's A/B test and its variants' figures (ab_tests.report)."""
    return {
        "ab_test": report["ab_test"],
        "phase": report["phase"],
        "wait_until": iso(report.get("wait_until")),
        "winner_variant_id": report.get("winner_variant_id"),
        "picked_by": (report.get("decision") or {}).get("picked_by"),
        "variants": report["variants"],
        "rest": report["rest"],
    }


def webhook_endpoint_json(e, secret: str | None = None) -> dict:
    """An outbound webhook endpoint; its secret only when just created."""
    data = {
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "event_types": e.event_types,
        "is_active": e.is_active,
        "created_at": iso(e.created_at),
        "last_success_at": iso(e.last_success_at),
        "last_failure_at": iso(e.last_failure_at),
        "consecutive_failures": e.consecutive_failures or 0,
    }
    if secret is not None:
        data["secret"] = secret
    return data


def webhook_delivery_json(d) -> dict:
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at),
        "response_code": d.response_code,
        "response_body": d.response_body,
        "error": d.error,
        "duration_ms": d.duration_ms,
        "created_at": iso(d.created_at),
        "delivered_at": iso(d.delivered_at),
        "payload": d.payload or {},
        "history": d.history or [],
    }


def alert_json(a) -> dict:
    return {
        "id": a.id,
        "kind": a.kind,
        "severity": a.severity,
        "subject": {"type": a.subject_type, "id": a.subject_id},
        "message": a.message,
        "evidence": a.evidence or {},
        "action": {"label": a.action_label, "url": action_link(a)} if a.action_url else None,
        "status": a.status,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
        "resolved_at": iso(a.resolved_at),
    }


def delivery_json(d) -> dict:
    """A message and its trail (services/events/trail.Delivery)."""
    sent = next((s.t for s in d.steps if s.type == "handed off"), None)
    return {
        "kind": d.kind,
        "id": d.id,
        "to": d.to,
        "subject": d.subject,
        "campaign_id": d.campaign_id,
        "campaign_name": d.campaign_name,
        "message_id": d.message_id,
        "provider": d.provider,
        "provider_message_id": d.provider_message_id,
        "status": d.status,
        "sent_at": iso(sent),
        "trail": [
            {"t": iso(s.t), "type": s.type, "detail": s.detail, "smtp_code": s.smtp_code, "smtp_reply": s.smtp_reply,
             "verdict": s.verdict, "signals": s.signals}
            for s in d.steps
        ],
    }  # fmt: skip


def order_json(o) -> dict:
    return {
        "id": o.id,
        "external_id": o.external_id,
        "email": o.email,
        "subscriber_id": o.subscriber_id,
        "amount": float(o.amount),
        "currency": o.currency,
        "items": o.items,
        "placed_at": iso(o.placed_at),
        "campaign_id": o.campaign_id,
        "attributed_by": o.attributed_by,
        "created_at": iso(o.created_at),
    }


def suppression_json(s) -> dict:
    return {
        "id": s.id,
        "email": s.email,
        "reason": s.reason,
        "source": s.source,
        "detail": s.detail,
        "created_at": iso(s.created_at),
    }
