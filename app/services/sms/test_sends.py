"""A test text: the campaign's body sent now to one number the marketer gives, before the real send.

It goes through the campaign's provider within the sender's rate, as the real texts will, but it is
no recipient row, counts in no figure and needs no consent (it is the marketer's own phone). The body
is personalized for the subscriber with that number when there is one, else for a sample person.
An opted-out number is refused: Twilio would refuse it too (21610).
"""

from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import Provider, Subscriber
from app.providers import TransportUnavailable, twilio
from app.redis_client import get_redis
from app.services.content.rendering import render_problem
from app.services.delivery import providers
from app.services.errors import InvalidState, ValidationError
from app.services.sms import callbacks, campaigns, consent, encoding, phones, sending, settings


@dataclass(frozen=True)
class TestText:
    ok: bool
    phone: str
    body: str
    segments: int
    sid: str | None = None
    problem: str | None = None


def _context(workspace_id: int, phone: str, name: str) -> dict:
    person = db.session.scalar(
        select(Subscriber)
        .where(Subscriber.workspace_id == workspace_id, Subscriber.phone == phone, Subscriber.erased_at.is_(None))
        .order_by(Subscriber.id)
        .limit(1)
    )
    context = campaigns.sample_context(workspace_id)
    context["campaign"] = {"name": name}
    if person is not None:
        context["subscriber"] = {"id": person.id, "email": person.email, "name": person.name, "phone": phone,
                                 "attributes": person.attributes or {}}  # fmt: skip
    return context


def send_test(workspace_id: int, campaign_id, raw_phone) -> TestText:
    campaign = campaigns.get_campaign(workspace_id, campaign_id)
    phone = phones.normalize(raw_phone, settings.settings_of(workspace_id).default_region)
    if consent.is_opted_out(workspace_id, phone):
        raise InvalidState(
            "This number replied STOP: Twilio will not text it until it replies START.", {"phone": "Opted out."}
        )
    provider = db.session.get(Provider, campaign.provider_id) if campaign.provider_id else None
    if provider is None or provider.provider_type != campaigns.TWILIO:
        raise ValidationError("Choose a Twilio provider for the campaign first.", {"provider_id": "No provider."})
    template = campaigns.compile_body(campaigns.clean_body(campaign.body))
    try:
        text = campaigns.render_body(template, _context(workspace_id, phone, campaign.name))
    except Exception as exc:  # the marketer's expression failing: theirs to see, never a 500
        why = f"The text cannot be personalized: {render_problem(exc)}"
        raise ValidationError(why, {"body": why}) from None
    measure = encoding.measure(text)
    sender = sending.sender_for(phone, twilio.senders(provider.settings or {}))
    sending.wait_for_slot(get_redis(), provider, sender, None)  # among the campaigns' texts; never refused
    client, _ = providers.transport_for(provider)
    try:
        result = client.send_sms(phone, text, sender, None)
    except TransportUnavailable as exc:
        return TestText(False, phone, text, measure.segments, problem=str(exc))
    finally:
        client.close()
    if not result.ok:
        why = callbacks.twilio_error(result.error_code) or result.error_message or "Twilio's answer was lost."
        return TestText(False, phone, text, measure.segments, problem=why)
    return TestText(True, phone, text, result.segments or measure.segments, sid=result.sid)
