"""SMS campaigns: their body, audience and provider, what they would cost, and their editing rules.

The audience is chosen as for an email campaign (lists and segments, minus excluded ones:
campaigns/audience.py); among them, only people with a number who agreed to texts and whose
number did not opt out are texted (sms/audience.py says who is skipped and why).
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.models import Provider, SmsCampaign, SmsRecipient
from app.providers import twilio
from app.services.campaigns import audience as email_audience
from app.services.content import render_limits
from app.services.content.rendering import (
    SAMPLE_SUBSCRIBER,
    TemplateProblem,
    check_syntax,
    render_problem,
    text_env,
    time_limit,
)
from app.services.delivery import providers
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform import audit
from app.services.sms import audience, encoding, settings

TWILIO = "twilio"
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)
EDITABLE = ("draft", "scheduled")
FIELDS = ("name", "body", "provider_id", "quiet_hours", *email_audience.TARGETS)
SAMPLE_PHONE = "+14155550123"


def sms_providers(workspace_id: int) -> list[Provider]:
    """The workspace's Twilio providers, the one campaigns use by default first."""
    return providers.sms_providers(workspace_id)


def get_campaign(workspace_id: int, campaign_id, lock: bool = False) -> SmsCampaign:
    stmt = select(SmsCampaign).where(SmsCampaign.workspace_id == workspace_id, SmsCampaign.id == as_id(campaign_id))
    campaign = db.session.scalar(stmt.with_for_update() if lock else stmt)
    if campaign is None:
        raise NotFound("No such SMS campaign.")
    return campaign


def list_campaigns(workspace_id: int, include_flows: bool = False) -> list[SmsCampaign]:
    stmt = select(SmsCampaign).where(SmsCampaign.workspace_id == workspace_id)
    if not include_flows:
        stmt = stmt.where(SmsCampaign.flow_id.is_(None))
    return list(db.session.scalars(stmt.order_by(SmsCampaign.id.desc())))


def _clean_name(value) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError("Give the campaign a name.", {"name": "Required."})
    if len(name) > 200:
        raise ValidationError("Keep the name under 200 characters.", {"name": "Too long."})
    return name


def clean_body(value, field: str = "body") -> str:
    """The text as written: required, at most 1,600 characters, Jinja that compiles and stays in its limits."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Write the text to send.", {field: "Required."})
    body = value.replace("\r\n", "\n").strip()
    if len(body) > MAX_BODY:
        raise ValidationError(f"A text is at most {MAX_BODY:,} characters (Twilio's limit).", {field: "Too long."})
    try:
        check_syntax(field, body)
    except TemplateProblem as exc:
        raise ValidationError(
            f"The text's personalization does not compile: {exc.message}", {field: exc.message}
        ) from None
    return body


def _clean_provider(workspace_id: int, value) -> int:
    provider_id = as_id(value)
    if value in (None, ""):
        found = sms_providers(workspace_id)
        if not found:
            raise ValidationError(
                "Add a Twilio provider first (Settings → Providers).", {"provider_id": "No Twilio provider."}
            )
        return found[0].id
    provider = db.session.get(Provider, provider_id) if provider_id else None
    if provider is None or provider.workspace_id != workspace_id or provider.provider_type != TWILIO:
        raise ValidationError(
            "Choose one of this workspace's Twilio providers.", {"provider_id": "Not a Twilio provider."}
        )
    return provider.id


def _clean_audience(workspace_id: int, values: dict) -> dict:
    cleaned = {}
    for name in email_audience.TARGETS:
        try:
            cleaned[name] = email_audience.clean_ids(workspace_id, name, values.get(name))
        except ValidationError as exc:
            raise ValidationError(exc.message, {name: exc.message}) from None
    audience = email_audience.Audience.of(cleaned)
    email_audience.check(audience)
    return audience.as_dict()


def _apply(campaign: SmsCampaign, values: dict, creating: bool) -> None:
    errors: dict[str, str] = {}
    checks = {
        "name": lambda: setattr(campaign, "name", _clean_name(values.get("name"))),
        "body": lambda: setattr(campaign, "body", clean_body(values.get("body"))),
        "provider_id": lambda: setattr(
            campaign, "provider_id", _clean_provider(campaign.workspace_id, values.get("provider_id"))
        ),
    }
    for field, check in checks.items():
        if creating or field in values:
            try:
                check()
            except ValidationError as exc:
                errors.update(exc.fields or {field: exc.message})
    if creating or any(name in values for name in email_audience.TARGETS):
        merged = {**(campaign.audience or {}), **{k: values[k] for k in email_audience.TARGETS if k in values}}
        try:
            campaign.audience = _clean_audience(campaign.workspace_id, merged)
        except ValidationError as exc:
            errors.update(exc.fields or {"list_ids": exc.message})
    if "quiet_hours" in values:
        if not isinstance(values["quiet_hours"], bool):
            errors["quiet_hours"] = "true or false."
        else:
            campaign.quiet_hours = values["quiet_hours"]
    if errors:
        message = next(iter(errors.values())) if len(errors) == 1 else "Please correct the highlighted fields."
        raise ValidationError(message, errors)


def create_campaign(workspace_id: int, values: dict) -> SmsCampaign:
    """A draft; every field is checked and every wrong one named at once."""
    if not isinstance(values, dict):
        raise ValidationError("The campaign is an object.", {"campaign": "An object."})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0][:40]}.", {unknown[0][:40]: "Unknown."})
    campaign = SmsCampaign(workspace_id=workspace_id, status="draft", audience={}, quiet_hours=True)
    campaign.total_recipients, campaign.send_round = 0, 0
    _apply(campaign, values, creating=True)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(workspace_id: int, campaign_id, values: dict) -> SmsCampaign:
    if not isinstance(values, dict):
        raise ValidationError("The changes are an object.", {"campaign": "An object."})
    campaign = get_campaign(workspace_id, campaign_id, lock=True)
    if campaign.status not in EDITABLE or campaign.flow_id:
        raise InvalidState(f"A {campaign.status} campaign cannot be edited; only a draft or a scheduled one.")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0][:40]}.", {unknown[0][:40]: "Unknown."})
    _apply(campaign, values, creating=False)
    db.session.flush()
    return campaign


def delete_campaign(workspace_id: int, campaign_id) -> None:
    campaign = get_campaign(workspace_id, campaign_id, lock=True)
    if campaign.status == "sending" or campaign.flow_id:
        raise InvalidState("Pause or cancel the campaign before deleting it.")
    audit.record(workspace_id, "sms_campaign.delete", "sms_campaign", campaign.id, {"name": campaign.name})
    db.session.delete(campaign)
    db.session.flush()


def sample_context(workspace_id: int) -> dict:
    return {
        "subscriber": {**SAMPLE_SUBSCRIBER, "phone": SAMPLE_PHONE},
        "campaign": {"name": "Preview"},
        "event": {},
        "data": {},
    }


def render_body(template, context: dict) -> str:
    """One recipient's text: the compiled body rendered in the sandbox, within its limits."""
    budget = render_limits.start()
    try:
        with time_limit(render_limits.RENDER_SECONDS):
            return template.render(context).strip()
    finally:
        render_limits.stop(budget)


def compile_body(body: str):
    return text_env.from_string(body)


@dataclass(frozen=True)
class Preview:
    text: str
    measure: encoding.Measure
    problem: str | None = None
    warnings: tuple[str, ...] = ()


def preview(workspace_id: int, body: str) -> Preview:
    """The text for a sample person, its encoding and segments, and what a marketer should know."""
    try:
        body = clean_body(body)
        text = render_body(compile_body(body), sample_context(workspace_id))
    except ValidationError as exc:
        return Preview("", encoding.measure(""), problem=exc.message)
    except Exception as exc:  # a marketer's expression failing is theirs to see, never a 500
        return Preview("", encoding.measure(""), problem=f"The text cannot be rendered: {render_problem(exc)}")
    measure = encoding.measure(text)
    warnings = []
    if "STOP" not in text.upper():
        warnings.append("Say how to stop (“Reply STOP to opt out”): carriers filter texts that do not.")
    if measure.unicode_chars:
        shown = " ".join(measure.unicode_chars[:8])
        verb = "is" if len(measure.unicode_chars) == 1 else "are"
        warnings.append(
            f"{shown} {verb} not in the GSM alphabet: the text is sent as Unicode, 70 characters a segment."
        )
    if measure.segments > encoding.MAX_SEGMENTS:
        warnings.append(f"{measure.segments} segments: texts longer than {encoding.MAX_SEGMENTS} deliver badly.")
    return Preview(text, measure, warnings=tuple(warnings))


@dataclass(frozen=True)
class Estimate:
    recipients: int  # people the campaign would text now
    skipped: dict  # reason -> people in the audience who would not be
    segments_each: int  # for the sample person
    segments: int
    price: Decimal
    currency: str
    encoding: str


def estimate(workspace_id: int, campaign: SmsCampaign) -> Estimate:
    """Who would be texted and what it would cost, from the audience as it is now (one GROUP BY)."""
    counts = audience.count_by_reason(campaign)
    recipients = counts.pop(None, 0)
    sms = settings.settings_of(workspace_id)
    shown = preview(workspace_id, campaign.body or "")
    # A body the sample person cannot render (a value only real people have) is measured as written.
    measured = encoding.measure(campaign.body or "") if shown.problem else shown.measure
    each = max(measured.segments, 1) if campaign.body else 0
    price = (segment_price(campaign) * each * recipients).quantize(Decimal("0.01"))
    return Estimate(recipients, counts, each, each * recipients, price, sms.currency, measured.encoding)


def segment_price(campaign: SmsCampaign) -> Decimal:
    """What one segment costs: the provider's own price when it has one, else the workspace's."""
    provider = db.session.get(Provider, campaign.provider_id) if campaign.provider_id else None
    own = twilio.segment_price(provider.settings or {}) if provider is not None else None
    return own if own is not None else settings.settings_of(campaign.workspace_id).price_per_segment


def recipient_counts(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(SmsRecipient.status, func.count())
        .where(SmsRecipient.campaign_id == campaign_id)
        .group_by(SmsRecipient.status)
    )
    return {status: n for status, n in rows}
