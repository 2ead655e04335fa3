"""Campaigns: drafts, sending, statistics and recipients."""

from flask import g

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import RECIPIENT_FILTER
from app.blueprints.api.serializers import (
    campaign_detail_json,
    campaign_json,
    campaign_run_json,
    page_json,
    recipient_json,
    variants_json,
)
from app.blueprints.helpers import commit
from app.models.campaign import CAMPAIGN_STATUSES
from app.services.advisor import gate, spamassassin
from app.services.campaigns import ab_tests, ab_winner, drafts, lifecycle, pages, recurring, test_sends
from app.services.campaigns.settings import changed_values
from app.services.ids import MAX_ID
from app.services.pagination import paginate
from app.services.platform.workspaces import workspace_timezone

TAG = "Campaigns"


def _full(campaign_id: int) -> dict:
    return campaign_detail_json(pages.campaign_page(workspace_id(), campaign_id))


@operation("POST", "/campaigns", "Create a campaign", tag=TAG, body="CampaignCreate", response="Campaign", status=201)
def create_campaign(body: dict):
    """A draft of a template to one or more lists; nothing is sent until POST …/send."""
    campaign = drafts.create_campaign(workspace_id(), body)
    commit()
    return _full(campaign.id)


@operation(
    "GET",
    "/campaigns",
    "List campaigns",
    tag=TAG,
    response="CampaignSummary",
    paginated=True,
    query=(
        Param("status", {"enum": list(CAMPAIGN_STATUSES)}),
        Param(
            "parent_id",
            {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "Only the runs of this recurring campaign.",
        ),
    ),
)
def list_campaigns(query: dict):
    """Newest first, optionally only those in one status, or only the runs of one recurring campaign."""
    stmt = drafts.list_campaigns(workspace_id(), query.get("status"), query.get("parent_id"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([campaign_json(c) for c in items], total, query)


@operation("GET", "/campaigns/{campaign_id}", "Show a campaign", tag=TAG, response="Campaign")
def show_campaign(campaign_id: int):
    """The campaign with its delivery and engagement statistics, and when sending resumes while recipients
    wait for its send window."""
    return _full(campaign_id)


@operation(
    "PATCH",
    "/campaigns/{campaign_id}",
    "Change a draft campaign",
    tag=TAG,
    body="CampaignPatch",
    response="Campaign",
    errors=(409,),
)
def update_campaign(campaign_id: int, body: dict):
    """Only the fields given change (e.g. `send_window` or `recurrence`; null removes them); 409 unless a draft.
    A From field given without `identity_id` replaces the campaign's identity (identity_id becomes null)."""
    campaign = drafts.get_campaign(workspace_id(), campaign_id)
    campaign = drafts.update_campaign(
        workspace_id(), campaign.id, changed_values(drafts.campaign_values(campaign), body)
    )
    commit()
    return _full(campaign.id)


@operation(
    "POST",
    "/campaigns/{campaign_id}/start-recurring",
    "Start a recurring campaign",
    tag=TAG,
    response="Campaign",
    errors=(409, 422),
)
def start_recurring(campaign_id: int):
    """A draft with a `recurrence` becomes `scheduled` with its first run at `next_run_at`; each run is a child
    campaign. Pause stops the series (missed runs are skipped on resume), cancel ends it."""
    campaign = recurring.start_recurring(workspace_id(), campaign_id)
    commit()
    return _full(campaign.id)


@operation(
    "GET",
    "/campaigns/{campaign_id}/runs",
    "List the runs of a recurring campaign",
    tag=TAG,
    response="CampaignRun",
    paginated=True,
)
def list_runs(campaign_id: int, query: dict):
    """Newest first, each with its sent, unique open and unique click figures."""
    parent = drafts.get_campaign(workspace_id(), campaign_id)
    items, total = paginate(recurring.runs_query(parent.id), query["page"], query["per_page"])
    return page_json([campaign_run_json(r) for r in recurring.with_figures(items)], total, query)


@operation(
    "POST",
    "/campaigns/{campaign_id}/send",
    "Send a campaign now",
    tag=TAG,
    response="CampaignSending",
    status=202,
    errors=(409, 422),
    body="CampaignSend",
    body_required=False,
)
def send_campaign(campaign_id: int, body: dict | None = None):
    """Freezes the content and queues the send; 409 (with `fields.status`) unless the campaign is a draft,
    and 409 `blocked_by_advisor` (with `checks`) while the advisor finds something Gmail or Yahoo would
    punish, unless an owner's key sends `override_reason`."""
    reason = (body or {}).get("override_reason")
    campaign = gate.send_now(workspace_id(), campaign_id, reason, g.api_role == "owner")
    commit()  # the job is queued once the commit makes the campaign visible to workers
    return {"id": campaign.id, "status": "sending"}


@operation(
    "POST",
    "/campaigns/{campaign_id}/schedule",
    "Schedule a campaign",
    tag=TAG,
    body="CampaignSchedule",
    response="Campaign",
    errors=(409, 422),
)
def schedule_campaign(campaign_id: int, body: dict):
    """A draft (or a scheduled campaign, to move it) is sent at `scheduled_at`; the content is frozen then."""
    campaign = gate.schedule(workspace_id(), campaign_id, body["scheduled_at"], workspace_timezone(workspace_id()),
                             body.get("override_reason"), g.api_role == "owner")  # fmt: skip
    commit()
    return _full(campaign.id)


def _transition(action, campaign_id: int) -> dict:
    campaign = action(workspace_id(), campaign_id)
    commit()
    return _full(campaign.id)


@operation("POST", "/campaigns/{campaign_id}/pause", "Pause a campaign", tag=TAG, response="Campaign", errors=(409,))
def pause_campaign(campaign_id: int):
    """From scheduled or sending; workers stop between two messages. 409 (with `fields.status`) otherwise."""
    return _transition(lifecycle.pause, campaign_id)


@operation("POST", "/campaigns/{campaign_id}/resume", "Resume a campaign", tag=TAG, response="Campaign", errors=(409,))
def resume_campaign(campaign_id: int):
    """A paused send goes on where it stopped; a paused schedule is scheduled again (or starts, if due)."""
    return _transition(lifecycle.resume, campaign_id)


@operation("POST", "/campaigns/{campaign_id}/cancel", "Cancel a campaign", tag=TAG, response="Campaign", errors=(409,))
def cancel_campaign(campaign_id: int):
    """From paused or scheduled; whoever was not sent yet is listed as failed, "cancelled before sending"."""
    return _transition(lifecycle.cancel, campaign_id)


@operation(
    "POST",
    "/campaigns/{campaign_id}/resend-unknown",
    "Resend where the hand-off is unknown",
    tag=TAG,
    response="ResendResult",
    errors=(409,),
)
def resend_unknown(campaign_id: int):
    """Recipients whose hand-off was interrupted (the provider may have the message) are sent again, by decision."""
    count = lifecycle.resend_unknown(workspace_id(), campaign_id)
    commit()
    return {"requeued": count}


@operation(
    "POST",
    "/campaigns/{campaign_id}/resend-undelivered",
    "Resend to the undelivered",
    tag=TAG,
    response="ResendResult",
    errors=(409,),
)
def resend_undelivered(campaign_id: int):
    """Everyone not reached for reasons that were not theirs is sent again: hand-off unknown, refused for
    now (4xx) until Herald gave up, or the sender blocked (5.7.x). Bounced, suppressed and unsubscribed
    people are never included."""
    count = lifecycle.resend_undelivered(workspace_id(), campaign_id)
    commit()
    return {"requeued": count}


@operation(
    "POST",
    "/campaigns/{campaign_id}/test",
    "Send a test of a campaign",
    tag=TAG,
    body="CampaignTestRequest",
    response="TestSendResult",
    errors=(422,),
)
def send_campaign_test(campaign_id: int, body: dict):
    """To 1-10 addresses, from the campaign's sender through its provider; marked [Test], untracked, in no stats."""
    results = test_sends.send_campaign_test(workspace_id(), campaign_id, body["emails"], body.get("subscriber_id"))
    return {"results": [{"email": r.email, "ok": r.ok, "detail": r.detail} for r in results]}


@operation(
    "GET",
    "/campaigns/{campaign_id}/recipients",
    "List a campaign's recipients",
    tag=TAG,
    response="Recipient",
    paginated=True,
    query=(Param("status", {"enum": list(RECIPIENT_FILTER)}),),
)
def list_recipients(campaign_id: int, query: dict):
    """Each person the campaign was for, with what happened and why (e.g. suppressed:unsubscribed)."""
    campaign = drafts.get_campaign(workspace_id(), campaign_id)
    stmt = drafts.recipients_query(campaign.id, query.get("status"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([recipient_json(r) for r in items], total, query)


@operation(
    "GET", "/campaigns/{campaign_id}/variants", "Show a campaign's A/B test", tag=TAG, response="CampaignVariants"
)
def show_variants(campaign_id: int):
    """The test's settings and phase, and per variant the figures of its test group, which variant leads on the
    metric and whether its lead over each other variant is statistically significant (95%). `rest` is the audience
    held back for the winner. A campaign without a test answers `ab_test: null` and no variants."""
    return variants_json(ab_tests.report(drafts.get_campaign(workspace_id(), campaign_id)))


@operation(
    "POST",
    "/campaigns/{campaign_id}/variants/{variant_id}/pick",
    "Pick the winner of an A/B test",
    tag=TAG,
    response="CampaignVariants",
    errors=(409,),
)
def pick_variant(campaign_id: int, variant_id: int):
    """Any time during the wait (also before an automatic pick): the rest of the audience is sent this variant.
    409 with `fields.ab_phase` (testing, decided, or null) when the test is not waiting for a winner."""
    campaign = ab_winner.pick_winner(workspace_id(), campaign_id, variant_id)
    commit()
    return variants_json(ab_tests.report(campaign))


@operation(
    "POST",
    "/campaigns/{campaign_id}/spam-check",
    "Score a campaign with SpamAssassin",
    tag=TAG,
    response="SpamCheck",
    errors=(422,),
    permission="read",  # scores, stores nothing
)
def spam_check(campaign_id: int):
    """The campaign's message as it would go out (to its first recipient, or a sample person) scored by the
    offline SpamAssassin beside Herald: a content lint, not a prediction of inbox placement. `available: false`
    with `message` when spamd does not answer; 422 when the template fails to render."""
    return spamassassin.check_campaign_spam(workspace_id(), campaign_id).as_json()
