"""Test sends: one template, rendered for a sample (or chosen) subscriber, to a few addresses.

A test is marked as one ("[Test]" subject, an X-Herald-Test header), is not tracked and
does not count anywhere: it goes straight through the provider, never through a campaign.
"""

import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Subscriber
from app.providers import TransportUnavailable
from app.services.audience.contacts import normalize_email
from app.services.campaigns.drafts import get_campaign
from app.services.campaigns.send_checks import subscriber_rows
from app.services.content import templates
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import SAMPLE_SUBSCRIBER, TemplateProblem, build_context, render_once
from app.services.delivery import dkim, providers
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform.workspaces import default_sender

MAX_TEST_ADDRESSES = 10


@dataclass
class TestResult:
    email: str
    ok: bool
    detail: str | None = None


def parse_addresses(raw) -> list[str]:
    """Addresses from a list or a comma/space/newline separated string, each checked, no repeats."""
    if isinstance(raw, str):
        raw = raw.replace(",", " ").replace(";", " ").split()
    if not isinstance(raw, list) or not raw:
        raise ValidationError("Give at least one address to send the test to.", {"emails": "required"})
    if len(raw) > MAX_TEST_ADDRESSES:
        raise ValidationError(
            f"Send a test to at most {MAX_TEST_ADDRESSES} addresses at once.", {"emails": "too many addresses"}
        )
    out: list[str] = []
    for value in raw:
        try:
            email = normalize_email(value)
        except ValidationError as exc:
            raise ValidationError(exc.message, {"emails": exc.message}) from None
        if email not in out:
            out.append(email)
    return out


def preview_subscribers(workspace_id: int, limit: int = 50) -> list:
    """The latest subscribers, to preview or test a template as one of them."""
    return list(
        db.session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name)
            .where(Subscriber.workspace_id == workspace_id)
            .order_by(Subscriber.id.desc())
            .limit(limit)
        )
    )


def subscriber_context(workspace_id: int, subscriber_id) -> dict:
    """What `subscriber` means in a preview or test: a subscriber of this workspace, or the sample one."""
    if subscriber_id in (None, ""):
        return dict(SAMPLE_SUBSCRIBER)
    sub_id = as_id(subscriber_id)  # a form sends text: "abc" or 10**30 must not reach the database
    sub = (
        db.session.scalar(select(Subscriber).where(Subscriber.id == sub_id, Subscriber.workspace_id == workspace_id))
        if sub_id is not None
        else None
    )
    if sub is None:
        raise NotFound("No such subscriber.")
    return subscriber_rows([sub.id])[sub.id]


def send_test(
    workspace_id: int,
    template_id: int,
    emails,
    from_email: str | None = None,
    from_name: str | None = None,
    subscriber_id: int | None = None,
    provider_id: int | None = None,
) -> list[TestResult]:
    """The template rendered for one subscriber (or the sample one), sent as a test to each address."""
    tpl = templates.get_template(workspace_id, template_id)
    addresses = parse_addresses(emails)
    from_name, sender = _test_sender(workspace_id, from_email, from_name)
    provider = _test_provider(workspace_id, provider_id)
    out = _render_test(workspace_id, tpl, subscriber_id)
    transport, headers = providers.transport_for(provider)
    skeleton = MessageSkeleton(from_name, sender, None, {**headers, "X-Herald-Test": "1"})
    signer = dkim.signer_for(workspace_id, sender)  # a test arrives as the real message would, signed
    try:
        return [_send_one(transport, skeleton, signer, sender, rcpt, out, tpl.id) for rcpt in addresses]
    finally:
        transport.close()


def _test_sender(workspace_id: int, from_email: str | None, from_name: str | None) -> tuple[str | None, str]:
    """(name, address) the test comes from: those given, else the workspace's last sender."""
    last_name, last_email = default_sender(workspace_id)
    try:
        sender = normalize_email(from_email or last_email or "")
    except ValidationError:
        raise ValidationError(
            "Say which address the test comes from.", {"from_email": "a valid sender address is required"}
        ) from None
    return " ".join(str(from_name or last_name or "").split())[:200] or None, sender


def _test_provider(workspace_id: int, provider_id: int | None):
    provider = (
        providers.get_email_provider(workspace_id, provider_id)
        if provider_id
        else providers.default_provider(workspace_id)
    )
    if provider is None:
        raise ValidationError("Add a provider before sending a test.", {"provider_id": "no provider"})
    return provider


def _render_test(workspace_id: int, tpl, subscriber_id):
    """The template rendered once, with test links (nothing in a test is tracked or unsubscribes anyone)."""
    base = current_app.config["BASE_URL"]
    ctx = build_context(
        subscriber_context(workspace_id, subscriber_id),
        tpl.name,
        f"{base}/u/test",
        f"{base}/preferences/test",
        f"{base}/v/test",
        templates.sample_event_data(base),
        base_url=base,
    )
    try:
        return render_once(tpl.subject, tpl.body_html, tpl.body_text, tpl.preview_text, ctx)
    except TemplateProblem as exc:
        raise ValidationError(f"The template cannot be rendered: {exc.message}", {exc.field: exc.message}) from None


def _send_one(
    transport, skeleton: MessageSkeleton, signer: dkim.DkimSigner | None, sender: str, rcpt: str, out, template_id: int
) -> TestResult:
    message_id = f"<test.{template_id}.{secrets.token_hex(6)}@{skeleton.domain}>"
    raw = skeleton.build(None, rcpt, f"[Test] {out.subject}", out.html, out.text, message_id)
    if signer is not None:
        raw = signer.sign(raw)
    try:
        res = transport.send(sender, rcpt, raw)
    except TransportUnavailable as exc:
        return TestResult(rcpt, False, f"The provider could not be reached: {exc}")
    return TestResult(rcpt, res.ok, res.detail if not res.ok else None)


def send_campaign_test(workspace_id: int, campaign_id: int, emails, subscriber_id=None) -> list[TestResult]:
    """A test of a campaign as it stands: its template (its frozen copy once sending), sender and provider."""
    campaign = get_campaign(workspace_id, campaign_id)
    template_id = (campaign.snapshot or {}).get("template_id") or campaign.template_id
    return send_test(
        workspace_id,
        template_id,
        emails,
        from_email=campaign.from_email,
        from_name=campaign.from_name,
        subscriber_id=subscriber_id,
        provider_id=campaign.provider_id,
    )
