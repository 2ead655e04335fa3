"""Referral emails, sent one by one through the transactional messages service (delivery/transactional.py):

    invite          to a subscriber: their link, what a friend gets and what they get       (the dashboard's button)
    reward earned   to the referrer, once their friend's first order qualified               (referrals.on_order)
    friend reward   to the friend, with their welcome reward (when the program gives one)   (referrals.on_order)

Each is an ordinary visual template of the workspace (category transactional), made from Herald's design the
first time it is needed (slug `herald-referral-invite`, `herald-referral-reward`, `herald-referral-friend`):
the team edits it in the builder like any other, and the slug keeps it found. The context every one gets:

    workspace_name
    referral   {url, code, program, referrer_reward, friend_reward, qualifying_order, expiry_days, offer}
    reward     {description, code (coupon; null for points), status, instructions}    (reward emails only)

The From is the template's identity, else the workspace's system sender (alerts.system_sender), else an
owner's address. A reward email carries an idempotency key per referral and side, so it is sent once. An
email that cannot go (no provider) is logged and recorded as null: the reward itself stands.
"""

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, Referral, ReferralProgram, Subscriber, Template, Workspace
from app.services.audience.subscriber_fields import normalize_email
from app.services.content import templates
from app.services.delivery import transactional
from app.services.errors import DomainError, ValidationError
from app.services.growth.referral_rewards import describe_reward, qualifying_order
from app.services.platform.alerts import owner_addresses, system_sender

log = logging.getLogger(__name__)

INVITE, REWARD, FRIEND = "herald-referral-invite", "herald-referral-reward", "herald-referral-friend"


def _text(block_id: str, text: str, **props) -> dict:
    return {"id": block_id, "type": "text", "props": {"text": text, "color": "#3d4a5c", "fontSize": 16, **props}}


def _code_block(block_id: str) -> dict:
    """The coupon in large type, only when there is one (points have none)."""
    return {
        "id": block_id, "type": "conditional", "props": {"condition": "reward.code"},
        "children": [_text(f"{block_id}-code", "<b>{{ reward.code }}</b>", fontSize=28, align="center",
                           color="#1d273b")],
        "else": [],
    }  # fmt: skip


def _design(heading: str, blocks: list[dict], button: tuple[str, str] | None) -> dict:
    body = [{"id": "heading", "type": "header", "props": {"text": heading, "level": 1, "color": "#1d273b"}}, *blocks]
    if button:
        body.append(
            {
                "id": "button",
                "type": "button",
                "props": {
                    "text": button[0],
                    "href": button[1],
                    "backgroundColor": "#206bc4",
                    "color": "#ffffff",
                    "align": "left",
                },
            }
        )
    return {
        "version": 1,
        "settings": {"backgroundColor": "#f4f6fa", "width": 600, "fontFamily": "Arial, Helvetica, sans-serif"},
        "blocks": [
            {"id": "brand", "type": "section", "props": {"padding": "20px 24px 8px 24px"}, "children": [
                {"id": "brand-col", "type": "column", "props": {}, "children": [
                    _text("brand-name", "<b>{{ workspace_name }}</b>", color="#667382", fontSize=14)]}]},
            {"id": "main", "type": "section", "props": {"backgroundColor": "#ffffff", "padding": "28px 24px"},
             "children": [{"id": "main-col", "type": "column", "props": {}, "children": body}]},
        ],
    }  # fmt: skip


BUILT_IN = {
    INVITE: {
        "name": "Referral invite",
        "subject": "Invite a friend to {{ workspace_name }}",
        "preview_text": "Your personal link, and what you both get.",
        "design": _design(
            "Share {{ workspace_name }} with a friend",
            [
                _text("hello", "Hi {{ subscriber.name or 'there' }},"),
                _text("offer", "{{ referral.offer }}"),
                _text("link", "Your personal link: {{ referral.url }}"),
            ],
            ("Open your invitation", "{{ referral.url }}"),
        ),
    },
    REWARD: {
        "name": "Referral reward earned",
        "subject": "You earned {{ reward.description }}",
        "preview_text": "A friend you invited placed their first order.",
        "design": _design(
            "You earned {{ reward.description }}",
            [
                _text(
                    "hello",
                    "Hi {{ subscriber.name or 'there' }}, a friend you invited to {{ workspace_name }} "
                    "just placed their first order. Thank you for spreading the word!",
                ),
                _code_block("reward"),
                _text("how", "{{ reward.instructions }}"),
                _text("again", "Keep sharing your link: {{ referral.url }}"),
            ],
            ("Invite another friend", "{{ referral.url }}"),
        ),
    },
    FRIEND: {
        "name": "Referral friend reward",
        "subject": "A welcome gift from {{ workspace_name }}: {{ reward.description }}",
        "preview_text": "Thanks for your first order.",
        "design": _design(
            "Welcome! Here is {{ reward.description }}",
            [
                _text(
                    "hello",
                    "Hi {{ subscriber.name or 'there' }}, thank you for your first order with "
                    "{{ workspace_name }}. A friend invited you, so this is for you:",
                ),
                _code_block("reward"),
                _text("how", "{{ reward.instructions }}"),
            ],
            None,
        ),
    },
}


def built_in_template(workspace_id: int, slug: str) -> Template:
    """The workspace's template with this slug, made from Herald's design the first time."""
    found = db.session.scalar(select(Template).where(Template.workspace_id == workspace_id, Template.slug == slug))
    if found is not None:
        return found
    spec = BUILT_IN[slug]
    data = {**spec, "slug": slug, "category": "transactional", "template_type": "visual"}
    try:
        with db.session.begin_nested():  # two first rewards at once: one creates it, the other reads it
            return templates.create_template(workspace_id, data, None, "Herald's referral wording")
    except IntegrityError:
        return db.session.scalar(select(Template).where(Template.workspace_id == workspace_id, Template.slug == slug))


def referral_context(program: ReferralProgram, code: str, url: str) -> dict:
    referrer, friend = describe_reward(program.referrer_reward), describe_reward(program.friend_reward)
    order = qualifying_order(program)
    offer = (f"Invite a friend with your personal link. "
             f"{f'They get {friend} on {order}, and you' if friend else 'You'} get {referrer} when they place "
             f"{order if not friend else 'it'} within {program.expiry_days} days of signing up.")  # fmt: skip
    return {
        "url": url, "code": code, "program": program.name, "referrer_reward": referrer, "friend_reward": friend,
        "qualifying_order": order, "expiry_days": program.expiry_days, "offer": offer,
    }  # fmt: skip


def _reward_context(reward: dict) -> dict:
    if reward.get("code"):
        how = "Use this code at checkout; it is yours alone."
    elif reward.get("status") == "awarded":
        how = f"{reward['description'].capitalize()} were added to your account."
    else:
        how = f"{reward['description'].capitalize()} will be added to your account shortly."
    return {"description": reward.get("description", ""), "code": reward.get("code"),
            "status": reward.get("status"), "instructions": how}  # fmt: skip


def send_invite(program: ReferralProgram, subscriber: Subscriber, code: str, url: str) -> Message:
    """The invite with the subscriber's link; a DomainError (no provider, no sender) says why it cannot go."""
    return _send(program.workspace_id, INVITE, subscriber, {"referral": referral_context(program, code, url)})


def send_rewards(referral: Referral, program: ReferralProgram, code: str, url: str) -> dict:
    """The reward emails of a rewarded referral (each once); their message ids go into `rewards.emails`."""
    rewards = dict(referral.rewards or {})
    sent = {}
    for side, slug, person_id in (("referrer", REWARD, referral.referrer_id), ("friend", FRIEND, referral.friend_id)):
        person = db.session.get(Subscriber, person_id)
        if side not in rewards or person is None or person.erased_at is not None:
            continue  # no reward for this side, or nobody left to tell (erased on request)
        context = {"referral": referral_context(program, code, url), "reward": _reward_context(rewards[side])}
        try:
            with db.session.begin_nested():
                sent[side] = _send(program.workspace_id, slug, person, context, key=f"referral-{referral.id}-{side}").id
        except DomainError as exc:
            log.warning("referral %s: the %s's reward email not sent: %s", referral.id, side, exc.message)
            sent[side] = None
    referral.rewards = rewards | {"emails": sent}
    db.session.flush()
    return sent


def _send(workspace_id: int, slug: str, person: Subscriber, context: dict, key: str | None = None) -> Message:
    workspace = db.session.get(Workspace, workspace_id)
    tpl = built_in_template(workspace_id, slug)
    accepted = transactional.create_message(
        workspace_id,
        tpl.id,
        person.email,
        {"workspace_name": workspace.name, **context},
        from_email=None if tpl.identity_id else _sender(workspace_id),
        from_name=None if tpl.identity_id else workspace.name,
        idempotency_key=key,
    )
    return accepted.message


def _sender(workspace_id: int) -> str | None:
    """The workspace's system sender, else an owner's address (herald@localhost can be no From)."""
    for candidate in (system_sender(workspace_id), *owner_addresses(workspace_id)):
        try:
            return normalize_email(candidate)
        except ValidationError:
            continue
    return None
