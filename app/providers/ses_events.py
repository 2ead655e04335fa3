"""Amazon SES events, read from SNS notifications: one ProviderEvent per affected recipient.

The envelope is verified first by `app.providers.sns`; this module only reads it
(deliverability.md §3.1 and §3.5). `app.providers.ses` re-exports `parse_webhook`, so the
provider surface stays one module per provider type.
"""

import json
from datetime import UTC, datetime
from email.utils import parseaddr

from app.providers import BadPayload, ProviderEvent
from app.providers.bounces import ENHANCED_RE, classify, enhanced_code, smtp_code

_VALIDATION_MESSAGE = "Successfully validated SNS topic for Amazon SES event publishing."
# Legacy identity notifications announce a new subscription this way: nothing to record.
_LEGACY_SUBSCRIBED = "AmazonSnsSubscriptionSucceeded"


def parse_webhook(headers, body: bytes) -> list[ProviderEvent]:
    """The events in a verified SNS envelope; BadPayload when the body is not one.

    Confirmations and SES's "Successfully validated" notice carry no event: []. Anything
    SES sends that we do not map becomes an `unknown` event rather than being dropped.
    """
    envelope = _envelope(body)
    kind = envelope["Type"]
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return []
    if kind != "Notification":
        raise BadPayload(f"unexpected SNS message type {kind!r}")
    sns_id = envelope["MessageId"]
    text = envelope.get("Message")
    if not isinstance(text, str):
        raise BadPayload("SNS notification without a Message")
    if text.strip() == _VALIDATION_MESSAGE:
        return []
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return [_unparsed(sns_id, text, envelope)]
    if event.get("notificationType") == _LEGACY_SUBSCRIBED:
        return []
    return _events(sns_id, event, envelope)


def _envelope(body: bytes) -> dict:
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Type"), str):
        raise BadPayload("the body is not an SNS envelope (no Type)")
    if not isinstance(envelope.get("MessageId"), str) or not envelope["MessageId"]:
        raise BadPayload("the body is not an SNS envelope (no MessageId)")
    return envelope


def _unparsed(sns_id: str, text: str, envelope: dict) -> ProviderEvent:
    """A notification whose Message is not an SES event: kept, as `unknown`."""
    return ProviderEvent(
        event_id=sns_id,
        event_type="unknown",
        raw_type="SNS/text",
        occurred_at=_when(envelope.get("Timestamp")),
        data={"message": text[:500], "topic_arn": envelope.get("TopicArn")},
    )


def _d(value) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value) -> list:
    return value if isinstance(value, list) else []


def _when(value) -> datetime | None:
    """An SES/SNS ISO 8601 timestamp as an aware UTC datetime; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _address(value) -> str | None:
    """The bare address from "jane@example.com" or "Jane <jane@example.com>"."""
    if not isinstance(value, str) or not value.strip():
        return None
    return (parseaddr(value)[1] or value).strip()


def _message_id(mail: dict) -> str | None:
    """The RFC 5322 Message-ID as sent, in angle brackets.

    The Message-ID header itself comes first: in some AWS samples commonHeaders.messageId
    repeats SES's own id, which is not the header we set.
    """
    value = None
    for header in _l(mail.get("headers")):
        header = _d(header)
        if str(header.get("name", "")).lower() == "message-id" and header.get("value"):
            value = header["value"]
            break
    if value is None:
        value = _d(mail.get("commonHeaders")).get("messageId")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if value.startswith("<") else f"<{value.strip('<>')}>"


def _ref(mail: dict) -> str | None:
    values = _l(_d(mail.get("tags")).get("herald_ref"))
    return values[0] if values and isinstance(values[0], str) else None


def _event_kind(event: dict) -> str:
    kind = event.get("eventType") or event.get("notificationType")
    return kind if isinstance(kind, str) and kind else "unknown"


def _events(sns_id: str, event: dict, envelope: dict) -> list[ProviderEvent]:
    """One ProviderEvent per affected recipient of one SES event."""
    kind = _event_kind(event)
    mail = _d(event.get("mail"))
    detail_of = _DETAILS.get(kind, _unknown_details)
    per_recipient, common = detail_of(event, mail)
    base_time = (
        _when(common.pop("_timestamp", None)) or _when(mail.get("timestamp")) or _when(envelope.get("Timestamp"))
    )
    if not per_recipient:
        per_recipient = [{}]
    events = []
    for index, extra in enumerate(per_recipient):
        fields = {**common, **extra, "data": {**common.get("data", {}), **extra.get("data", {})}}
        data = {k: v for k, v in fields.pop("data").items() if v not in (None, "", [], {})}
        events.append(
            ProviderEvent(
                event_id=sns_id if len(per_recipient) == 1 else f"{sns_id}:{index}",
                raw_type=fields.pop("raw_type", kind),
                occurred_at=base_time,
                ref=_ref(mail),
                message_id=_message_id(mail),
                provider_message_id=mail.get("messageId") if isinstance(mail.get("messageId"), str) else None,
                data=data,
                **fields,
            )
        )
    return events


def _destinations(mail: dict) -> list[dict]:
    return [{"email": _address(a)} for a in _l(mail.get("destination")) if _address(a)]


def _smtp_fields(recipient: dict) -> dict:
    """smtp_code / enhanced / diagnostic from a bounced or delayed recipient's status and diagnosticCode."""
    diagnostic = recipient.get("diagnosticCode") if isinstance(recipient.get("diagnosticCode"), str) else None
    status = recipient.get("status") if isinstance(recipient.get("status"), str) else None
    enhanced = status if status and ENHANCED_RE.fullmatch(status.strip()) else enhanced_code(diagnostic)
    return {"smtp_code": smtp_code(diagnostic), "enhanced": enhanced, "diagnostic": diagnostic}


def _bounce_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    bounce = _d(event.get("bounce"))
    btype, subtype = str(bounce.get("bounceType") or "Undetermined"), str(bounce.get("bounceSubType") or "")
    suppressed = btype == "Permanent" and subtype in ("Suppressed", "OnAccountSuppressionList")
    common = {
        "_timestamp": bounce.get("timestamp"),
        "raw_type": "/".join(p for p in (_event_kind(event), btype, subtype) if p),
        "data": {
            "bounceType": btype,
            "bounceSubType": subtype,
            "feedbackId": bounce.get("feedbackId"),
            "reportingMTA": bounce.get("reportingMTA"),
            "remoteMtaIp": bounce.get("remoteMtaIp"),
        },
    }
    bounced = [_d(r) for r in _l(bounce.get("bouncedRecipients")) if _address(_d(r).get("emailAddress"))]
    if not bounced:  # malformed, but the destinations are still the ones it is about
        bounced = [{"emailAddress": a} for a in _l(mail.get("destination"))]
    recipients = []
    for recipient in bounced:
        smtp = _smtp_fields(recipient)
        recipients.append(
            {
                "email": _address(recipient.get("emailAddress")),
                **smtp,
                **_bounce_outcome(btype, subtype, suppressed, smtp),
                "data": {"action": recipient.get("action")},
            }
        )
    return recipients or [{**_bounce_outcome(btype, subtype, suppressed, {})}], common


def _bounce_outcome(btype: str, subtype: str, suppressed: bool, smtp: dict) -> dict:
    """reject for SES's own suppression (it never tried); else a bounce, hard/soft/block.

    Permanent General/NoEmail is hard unless the diagnostic says the receiver refused the
    sender (5.7.x, blocklists: block). Transient and Undetermined are soft, but a policy
    refusal is still a block: it must not count towards suppressing the address.
    """
    if suppressed:
        return {"event_type": "reject", "bounce_type": None}
    verdict = classify(smtp.get("smtp_code"), smtp.get("enhanced"), smtp.get("diagnostic"))
    if verdict == "block":
        return {"event_type": "bounce", "bounce_type": "block"}
    if btype == "Permanent" and subtype in ("General", "NoEmail"):
        return {"event_type": "bounce", "bounce_type": "hard"}
    if btype == "Permanent":  # Undetermined or a new subtype: SES could not tell; read the reply
        return {"event_type": "bounce", "bounce_type": verdict}
    return {"event_type": "bounce", "bounce_type": "soft"}


def _complaint_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    complaint = _d(event.get("complaint"))
    subtype = complaint.get("complaintSubType")
    on_list = subtype == "OnAccountSuppressionList"
    recipients = [{"email": _address(_d(r).get("emailAddress"))} for r in _l(complaint.get("complainedRecipients"))]
    common = {
        "_timestamp": complaint.get("timestamp"),
        "event_type": "reject" if on_list else "complaint",
        "raw_type": f"{_event_kind(event)}/{subtype}" if isinstance(subtype, str) and subtype else _event_kind(event),
        "user_agent": complaint.get("userAgent") if isinstance(complaint.get("userAgent"), str) else None,
        "data": {
            "feedbackId": complaint.get("feedbackId"),
            "complaintFeedbackType": complaint.get("complaintFeedbackType"),
            "complaintSubType": subtype,
            "arrivalDate": complaint.get("arrivalDate"),
        },
    }
    return [r for r in recipients if r["email"]] or _destinations(mail), common


def _delivery_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    delivery = _d(event.get("delivery"))
    recipients = [{"email": _address(r)} for r in _l(delivery.get("recipients")) if _address(r)]
    common = {
        "_timestamp": delivery.get("timestamp"),
        "event_type": "delivery",
        "data": {
            "smtpResponse": delivery.get("smtpResponse"),
            "processingTimeMillis": delivery.get("processingTimeMillis"),
            "reportingMTA": delivery.get("reportingMTA"),
            "remoteMtaIp": delivery.get("remoteMtaIp"),
        },
    }
    return recipients or _destinations(mail), common


def _delay_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    delay = _d(event.get("deliveryDelay"))
    delay_type = delay.get("delayType") if isinstance(delay.get("delayType"), str) else None
    recipients = []
    for recipient in _l(delay.get("delayedRecipients")):
        recipient = _d(recipient)
        if _address(recipient.get("emailAddress")):
            recipients.append({"email": _address(recipient.get("emailAddress")), **_smtp_fields(recipient)})
    common = {
        "_timestamp": delay.get("timestamp"),
        "event_type": "delivery_delay",
        "raw_type": f"{_event_kind(event)}/{delay_type}" if delay_type else _event_kind(event),
        "data": {
            "delayType": delay_type,
            "expirationTime": delay.get("expirationTime"),
            "reportingMTA": delay.get("reportingMTA"),
        },
    }
    return recipients or _destinations(mail), common


def _simple(event_type: str, key: str | None = None):
    """Details for events about the whole message (Send, Reject, Rendering Failure)."""

    def details(event: dict, mail: dict) -> tuple[list[dict], dict]:
        obj = _d(event.get(key)) if key else {}
        common = {"_timestamp": obj.get("timestamp"), "event_type": event_type, "data": {}}
        if key == "reject":
            common["diagnostic"] = obj.get("reason") if isinstance(obj.get("reason"), str) else None
            common["data"] = {"reason": obj.get("reason")}
        elif key == "failure":
            common["diagnostic"] = obj.get("errorMessage") if isinstance(obj.get("errorMessage"), str) else None
            common["data"] = {"templateName": obj.get("templateName")}
        return _destinations(mail), common

    return details


def _engagement(event_type: str, key: str):
    """Open and Click: SES does not say which recipient acted, so every destination gets one."""

    def details(event: dict, mail: dict) -> tuple[list[dict], dict]:
        obj = _d(event.get(key))

        def text(name: str) -> str | None:
            return obj.get(name) if isinstance(obj.get(name), str) else None

        common = {
            "_timestamp": obj.get("timestamp"),
            "event_type": event_type,
            "ip": text("ipAddress"),
            "user_agent": text("userAgent"),
            "url": text("link") if key == "click" else None,
            "data": {"linkTags": obj.get("linkTags")} if key == "click" else {},
        }
        return _destinations(mail), common

    return details


def _topic_statuses(prefs: dict) -> dict[str, str]:
    return {
        str(_d(t).get("topicName")): str(_d(t).get("subscriptionStatus"))
        for t in _l(prefs.get("topicSubscriptionStatus"))
        if _d(t).get("topicName")
    }


def _subscription_change(old: dict, new: dict) -> tuple[str, list[str], list[str]]:
    """unsubscribe, resubscribe or unknown, from the old and new topic preferences.

    unsubscribeAll switching decides alone; otherwise each topic's effective status (its
    own, else the list's default) is compared: only opt-outs is an unsubscribe, only
    opt-ins a resubscribe, a mix or no change is unknown.
    """
    old_all, new_all = bool(old.get("unsubscribeAll")), bool(new.get("unsubscribeAll"))
    old_topics, new_topics = _topic_statuses(old), _topic_statuses(new)
    old_default, new_default = old.get("topicDefaultSubscriptionStatus"), new.get("topicDefaultSubscriptionStatus")
    opted_out, opted_in = [], []
    for topic in sorted(set(old_topics) | set(new_topics)):
        before, after = old_topics.get(topic, old_default), new_topics.get(topic, new_default)
        if before != "OptOut" and after == "OptOut":
            opted_out.append(topic)
        elif before != "OptIn" and after == "OptIn":
            opted_in.append(topic)
    if new_all and not old_all:
        return "unsubscribe", opted_out, opted_in
    if old_all and not new_all:
        return "resubscribe", opted_out, opted_in
    if opted_out and not opted_in:
        return "unsubscribe", opted_out, opted_in
    if opted_in and not opted_out:
        return "resubscribe", opted_out, opted_in
    return "unknown", opted_out, opted_in


def _subscription_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    sub = _d(event.get("subscription"))
    change, opted_out, opted_in = _subscription_change(
        _d(sub.get("oldTopicPreferences")), _d(sub.get("newTopicPreferences"))
    )
    common = {
        "_timestamp": sub.get("timestamp"),
        "event_type": change,
        "data": {
            "contactList": sub.get("contactList"),
            "source": sub.get("source"),
            "unsubscribeAll": _d(sub.get("newTopicPreferences")).get("unsubscribeAll"),
            "topicsOptedOut": opted_out,
            "topicsOptedIn": opted_in,
        },
    }
    return _destinations(mail), common


def _unknown_details(event: dict, mail: dict) -> tuple[list[dict], dict]:
    return _destinations(mail), {"event_type": "unknown", "data": {}}


_DETAILS = {
    "Bounce": _bounce_details,
    "Complaint": _complaint_details,
    "Delivery": _delivery_details,
    "DeliveryDelay": _delay_details,
    "Send": _simple("send"),
    "Reject": _simple("reject", "reject"),
    "Rendering Failure": _simple("rendering_failure", "failure"),
    "Open": _engagement("open", "open"),
    "Click": _engagement("click", "click"),
    "Subscription": _subscription_details,
}
