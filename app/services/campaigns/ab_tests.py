"""A/B tests: two to four variants of a campaign (subject, from name, preview text or
content) go to a random test portion of the audience; after a wait, the rest receives the
winner — picked automatically on a metric, or by the marketer.

How it runs, in rows (nothing of it lives in a process's memory):

- start: every variant's content is frozen into its snapshot; `ab_phase` = testing.
- materialization (recipients.prepare_campaign): the whole audience is written as usual, then
  one UPDATE shuffles the pending rows (ORDER BY random()) and deals the first
  `test_percent`% to the variants in turn (row_number % n: an even, random split); the
  rest become `held`, a status no worker claims and that does not finish the campaign.
- the last test message handed off (sending.finish_if_done): `ab_phase` = waiting, until
  `ab_wait_until`. The campaign stays `sending` (pause and cancel work as ever) but cannot
  become `sent` while rows are held.
- the decision (the scheduler's `decide_due_tests`, or the marketer's pick): one conditional
  UPDATE waiting -> decided is the guard, so two schedulers or two clicks decide once; the
  held rows become pending in one UPDATE (those who unsubscribed or were suppressed in the
  meantime become failed rows with the reason instead) and their batches are queued.

Test rows keep their variant_id; released rows keep variant_id NULL and are rendered with
the campaign's winner, so each variant's figures stay those of its test group.
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import case, delete, exists, func, insert, or_, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, CampaignVariant, Link
from app.models.campaign import HUMAN_OPENED, skipped
from app.services.campaigns import ab_stats
from app.services.content.rendering import TemplateProblem, check_syntax, extract_links
from app.services.content.templates import get_template
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id, parse_int

LABELS = "ABCD"
MIN_VARIANTS, MAX_VARIANTS = 2, 4
METRICS = {"opens": "unique_opens", "clicks": "unique_clicks"}
METRIC_NAMES = {"opens": "unique opens", "clicks": "unique clicks"}
MIN_PERCENT, MAX_PERCENT = 2, 50  # at least half the audience is left for the winner
MIN_WAIT, MAX_WAIT = 5, 7 * 24 * 60  # minutes
DEFAULTS = {"test_percent": 20, "metric": "opens", "wait_minutes": 240, "auto_pick": True}
VARIANT_FIELDS = ("subject", "from_name", "preview_text", "template_id")
UNCHANGED = object()  # update_campaign without A/B fields keeps the campaign's test as it is

_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Validation -----------------------------------------------------------------------------------


def _as_int(value):
    return parse_int(value, max_digits=9)


def _as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "yes", "false", "off", "0", "no", ""):
        return value.lower() in ("true", "on", "1", "yes")
    return None


def clean_settings(raw, track_opens: bool, track_clicks: bool, errors: dict) -> dict:
    if not isinstance(raw, dict):
        errors["ab_test"] = "Give the test's settings as an object: test_percent, metric, wait_minutes, auto_pick."
        return {}
    s = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    pct, wait, auto = _as_int(s["test_percent"]), _as_int(s["wait_minutes"]), _as_bool(s["auto_pick"])
    if pct is None or not MIN_PERCENT <= pct <= MAX_PERCENT:
        errors["ab_test.test_percent"] = (
            f"Test on {MIN_PERCENT}% to {MAX_PERCENT}% of the audience, so the winner still reaches the rest."
        )
    if s["metric"] not in METRICS:
        errors["ab_test.metric"] = "Pick the winner on opens or clicks."
    elif s["metric"] == "opens" and not track_opens:
        errors["ab_test.metric"] = "Opens are not tracked for this campaign: turn open tracking on, or use clicks."
    elif s["metric"] == "clicks" and not track_clicks:
        errors["ab_test.metric"] = "Clicks are not tracked for this campaign: turn click tracking on, or use opens."
    if wait is None or not MIN_WAIT <= wait <= MAX_WAIT:
        errors["ab_test.wait_minutes"] = "Wait between 5 minutes and 7 days (10080 minutes) before picking."
    if auto is None:
        errors["ab_test.auto_pick"] = "Say true (pick the winner automatically) or false (you pick)."
    return {"test_percent": pct, "metric": s["metric"], "wait_minutes": wait, "auto_pick": bool(auto)}


def _clean_variant(workspace_id: int, i: int, raw, errors: dict) -> dict:
    key = f"variants.{i}"
    if not isinstance(raw, dict):
        errors[key] = "Each variant is an object with subject, from_name, preview_text or template_id."
        return {}
    subject = " ".join(str(raw.get("subject") or "").split()) or None
    from_name = " ".join(str(raw.get("from_name") or "").split()) or None
    preview = str(raw.get("preview_text") or "").strip() or None
    if subject and len(subject) > 500:
        errors[f"{key}.subject"] = "The subject must be one line of at most 500 characters."
    if from_name and len(from_name) > 200:
        errors[f"{key}.from_name"] = "Keep the sender name under 200 characters."
    if preview and len(preview) > 500:
        errors[f"{key}.preview_text"] = "Keep the preview text under 500 characters."
    for field, value in (("subject", subject), ("preview_text", preview)):
        if value and f"{key}.{field}" not in errors:
            try:
                check_syntax(field, value)
            except TemplateProblem as exc:
                errors[f"{key}.{field}"] = f"Template error on {exc.message}"
    template_id = None
    if raw.get("template_id") not in (None, ""):
        template_id = as_id(raw.get("template_id"))
        try:
            get_template(workspace_id, template_id or 0)
        except NotFound:
            errors[f"{key}.template_id"] = "Choose one of this workspace's templates."
            template_id = None
    return {"subject": subject, "from_name": from_name, "preview_text": preview, "template_id": template_id}


def clean(workspace_id: int, data: dict, base: dict, errors: dict, campaign: Campaign | None = None):
    """The A/B test of a campaign's input: (settings, variants), (None, []) for no test, or
    UNCHANGED when the input says nothing about it. Problems go into `errors` by field
    (e.g. variants.1.subject, ab_test.test_percent). `base` is the cleaned campaign; an
    existing `campaign` keeps its variants when only the settings are given (a PATCH)."""
    if "ab_test" not in data and "variants" not in data:
        return UNCHANGED
    raw, raw_variants = data.get("ab_test"), data.get("variants")
    if "variants" not in data and campaign is not None:
        raw_variants = [{f: getattr(v, f) for f in VARIANT_FIELDS} for v in list_variants(campaign.id)]
    if raw is None:
        return None, []
    settings = clean_settings(raw, base.get("track_opens", True), base.get("track_clicks", True), errors)
    if not isinstance(raw_variants, list) or not MIN_VARIANTS <= len(raw_variants) <= MAX_VARIANTS:
        errors["variants"] = f"An A/B test needs {MIN_VARIANTS} to {MAX_VARIANTS} variants."
        return settings, []
    variants = [_clean_variant(workspace_id, i, v, errors) for i, v in enumerate(raw_variants)]
    _require_differences(workspace_id, variants, base, errors)
    return settings, variants


def clean_or_raise(workspace_id: int, data: dict, base: dict, campaign: Campaign | None = None):
    """`clean`, raising one ValidationError with every problem of the test."""
    errors: dict = {}
    cleaned = clean(workspace_id, data, base, errors, campaign)
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(
            first if len(errors) == 1 else "Please correct the A/B test's highlighted fields.", errors
        )
    return cleaned


def _effective(workspace_id: int, v: dict, base: dict) -> tuple | None:
    """What a recipient of the variant would see: its own fields, or the campaign's."""
    template_id = v.get("template_id") or base.get("template_id")
    try:
        tpl = get_template(workspace_id, template_id or 0)
    except NotFound:
        return None
    return (v.get("subject") or tpl.subject, v.get("from_name") or base.get("from_name"),
            v.get("preview_text") or tpl.preview_text, tpl.id)  # fmt: skip


def _require_differences(workspace_id: int, variants: list[dict], base: dict, errors: dict) -> None:
    seen: dict[tuple, int] = {}
    for i, v in enumerate(variants):
        if not v or any(k.startswith(f"variants.{i}") for k in errors):
            continue
        shown = _effective(workspace_id, v, base)
        if shown is None:
            continue
        if shown in seen:
            errors[f"variants.{i}"] = (
                f"Variant {LABELS[i]} is the same as variant {LABELS[seen[shown]]}: "
                "change its subject, from name, preview text or content."
            )
        else:
            seen[shown] = i


def save(campaign: Campaign, cleaned) -> None:
    """Store a draft's test as cleaned by `clean` (replacing the variants it had)."""
    if cleaned is UNCHANGED:
        return
    settings, variants = cleaned
    db.session.execute(delete(CampaignVariant).where(CampaignVariant.campaign_id == campaign.id))
    campaign.ab_test = settings if variants else None
    for i, v in enumerate(variants):
        db.session.add(CampaignVariant(campaign_id=campaign.id, label=LABELS[i], **v))
    db.session.flush()


def list_variants(campaign_id: int) -> list[CampaignVariant]:
    return list(
        db.session.scalars(
            select(CampaignVariant).where(CampaignVariant.campaign_id == campaign_id).order_by(CampaignVariant.label)
        )
    )


def form_values(campaign: Campaign | None) -> dict:
    """A campaign's test as the form shows it."""
    if campaign is None or not campaign.ab_test:
        return {"ab_enabled": False, "ab_test": dict(DEFAULTS), "variants": [{}, {}]}
    variants = [{f: getattr(v, f) for f in VARIANT_FIELDS} for v in list_variants(campaign.id)]
    return {"ab_enabled": True, "ab_test": dict(campaign.ab_test), "variants": variants or [{}, {}]}


# Start and materialization ------------------------------------------------------------------------


def on_start(campaign: Campaign, audience_size: int) -> None:
    """Freeze every variant (lifecycle.start, after the campaign's own snapshot)."""
    if not campaign.ab_test:
        return
    variants = list_variants(campaign.id)
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise ValidationError(
            f"An A/B test needs {MIN_VARIANTS} to {MAX_VARIANTS} variants: edit the campaign.", {"variants": "count"}
        )
    test_size = round(audience_size * campaign.ab_test["test_percent"] / 100)
    if test_size < len(variants):
        raise ValidationError(
            f"{campaign.ab_test['test_percent']}% of {audience_size} people is too few to test "
            f"{len(variants)} variants: test on a larger share or send to more people.",
            {"ab_test.test_percent": "too few people in the test"},
        )
    for i, v in enumerate(variants):
        try:
            tpl = get_template(campaign.workspace_id, v.template_id or campaign.template_id)
        except NotFound:
            raise ValidationError(
                f"Variant {v.label}'s template no longer exists: edit the campaign.",
                {f"variants.{i}.template_id": "deleted"},
            ) from None
        v.snapshot = {
            "subject": v.subject or tpl.subject,
            "from_name": v.from_name or campaign.from_name,
            "preview_text": v.preview_text or tpl.preview_text,
            "body_html": tpl.body_html,
            "body_text": tpl.body_text,
            "template_id": tpl.id,
            "template_version": tpl.version,
        }
        v.recipients = 0
    campaign.ab_phase = "testing"
    campaign.ab_wait_until = None
    campaign.winner_variant_id = None
    campaign.ab_result = None


def split_audience(campaign: Campaign) -> None:
    """Deal the test portion of the just-materialized pending rows to the variants, evenly and
    at random, and hold the rest back: two set-based statements, whatever the audience size."""
    variants = list_variants(campaign.id)
    n = len(variants)
    pending = (_cr.c.campaign_id == campaign.id) & (_cr.c.status == "pending")
    total = db.session.scalar(select(func.count()).where(pending)) or 0
    test_size = min(total, max(n, round(total * campaign.ab_test["test_percent"] / 100)))
    r = _cr.alias("r")
    ranked = (
        select(r.c.id, func.row_number().over(order_by=func.random()).label("rn"))
        .where(r.c.campaign_id == campaign.id, r.c.status == "pending")
        .subquery()
    )
    in_test = ranked.c.rn <= test_size
    variant_of = case(*[((ranked.c.rn - 1) % n == i, v.id) for i, v in enumerate(variants)])
    db.session.execute(
        update(_cr)
        .where(_cr.c.id == ranked.c.id)
        .values(variant_id=case((in_test, variant_of), else_=None), status=case((in_test, "pending"), else_="held"))
    )
    counts = dict(
        db.session.execute(
            select(_cr.c.variant_id, func.count())
            .where(_cr.c.campaign_id == campaign.id, _cr.c.variant_id.is_not(None))
            .group_by(_cr.c.variant_id)
        ).all()
    )
    for v in variants:
        v.recipients = counts.get(v.id, 0)
    _create_variant_links(campaign, variants)
    db.session.flush()


def _create_variant_links(campaign: Campaign, variants: list[CampaignVariant]) -> None:
    """Links only a content variant has are tracked too (sending made the campaign body's)."""
    if not campaign.track_clicks:
        return
    known = set(db.session.scalars(select(Link.url).where(Link.campaign_id == campaign.id)))
    position = db.session.scalar(select(func.max(Link.position)).where(Link.campaign_id == campaign.id)) or 0
    rows = []
    for v in variants:
        for url in extract_links(v.snapshot["body_html"]):
            if url not in known:
                known.add(url)
                position += 1
                rows.append({"campaign_id": campaign.id, "position": position, "url": url})
    if rows:
        db.session.execute(insert(Link), rows)


# Sending -----------------------------------------------------------------------------------------

# A campaign may become `sent` only when no test holds part of its audience back.
NOT_HOLDING = or_(Campaign.ab_phase.is_(None), Campaign.ab_phase == "decided")


def start_waiting_if_test_sent(campaign_id: int, open_rows) -> bool:
    """The test portion is out (nothing pending or mid-hand-off): start the wait."""
    row = db.session.execute(select(Campaign.ab_phase, Campaign.ab_test).where(Campaign.id == campaign_id)).first()
    if row is None or row.ab_phase != "testing":
        return False
    until = _now() + timedelta(minutes=row.ab_test["wait_minutes"])
    result = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == "sending",
            Campaign.ab_phase == "testing",
            ~exists(open_rows),
        )
        .values(ab_phase="waiting", ab_wait_until=until)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


class MessageVariants:
    """For the send pipeline: which variant each recipient gets, and each variant's compiled
    message and sender, built once per variant per process (`build(variant)` makes them)."""

    def __init__(self, campaign: Campaign, build):
        self.by_id = {v.id: v for v in list_variants(campaign.id)}
        # Released rows have no variant of their own: they get the winner.
        self.default = campaign.winner_variant_id if campaign.ab_phase == "decided" else None
        self.build = build
        self.of: dict[int, int | None] = {}
        self.parts_of: dict[int, tuple] = {}

    def prefetch(self, recipient_ids: list[int]) -> None:
        """One query for a claimed chunk, not one per message."""
        if recipient_ids:
            rows = db.session.execute(select(_cr.c.id, _cr.c.variant_id).where(_cr.c.id.in_(recipient_ids))).all()
            self.of.update((rid, vid) for rid, vid in rows)

    def parts(self, recipient_id: int, default: tuple) -> tuple:
        if recipient_id not in self.of:
            self.prefetch([recipient_id])
        variant = self.by_id.get(self.of.get(recipient_id) or self.default)
        if variant is None or not variant.snapshot:
            return default
        if variant.id not in self.parts_of:
            self.parts_of[variant.id] = self.build(variant)
        return self.parts_of[variant.id]


# Figures ---------------------------------------------------------------------------------------


def variant_figures(campaign_id: int) -> dict[int | None, dict]:
    """Per variant id (None: the rest, who got the winner) recipients, sent, delivered and
    unique opens and clicks by people (HUMAN_OPENED, human_clicked_at), in one grouped query.
    Suppressed people are in no group."""
    cr = CampaignRecipient
    rows = db.session.execute(
        select(
            cr.variant_id,
            func.count(),
            func.count(cr.sent_at),
            func.coalesce(func.sum(case((cr.status == "bounced", 1), else_=0)), 0),
            func.coalesce(func.sum(case((HUMAN_OPENED, 1), else_=0)), 0),
            func.count(cr.human_clicked_at),  # people's clicks: a scanner clicking every link picks no winner
            func.coalesce(func.sum(case((cr.status == "held", 1), else_=0)), 0),
        )
        .where(cr.campaign_id == campaign_id, ~skipped(cr.reason))
        .group_by(cr.variant_id)
    ).all()
    return {
        vid: {
            "recipients": total,
            "sent": sent,
            "delivered": max(0, sent - bounced),
            "unique_opens": opens,
            "unique_clicks": clicks,
            "held": held,
        }
        for vid, total, sent, bounced, opens, clicks, held in rows
    }


def _comparison_json(c: ab_stats.Comparison | None) -> dict | None:
    if c is None:
        return None
    return {
        "enough_data": c.enough_data,
        "z": round(c.z, 4) if c.z is not None else None,
        "p_value": c.p_value,
        "significant": c.significant,
    }


def report(campaign: Campaign) -> dict:
    """What the page and the API show of a campaign's test: settings, phase, and each
    variant's figures with the leader's significance against it."""
    variants = list_variants(campaign.id)
    if not campaign.ab_test or not variants:
        return {"ab_test": None, "phase": None, "variants": [], "rest": None}
    metric = campaign.ab_test["metric"]
    key = METRICS[metric]
    figures = variant_figures(campaign.id) if campaign.started_at else {}
    empty = {"recipients": 0, "sent": 0, "delivered": 0, "unique_opens": 0, "unique_clicks": 0, "held": 0}
    rows = []
    for v in variants:
        f = figures.get(v.id, empty)
        snap = v.snapshot or {}
        rows.append(
            {
                "id": v.id,
                "label": v.label,
                "subject": v.subject,
                "from_name": v.from_name,
                "preview_text": v.preview_text,
                "template_id": v.template_id,
                "sent_subject": snap.get("subject"),
                "sent_from_name": snap.get("from_name"),
                **{k: f[k] for k in ("recipients", "sent", "delivered", "unique_opens", "unique_clicks")},
                "open_rate": ab_stats.rate(f["unique_opens"], f["delivered"]),
                "click_rate": ab_stats.rate(f["unique_clicks"], f["delivered"]),
            }
        )
    best, comparisons = ab_stats.compare_to_leader(rows, key) if campaign.started_at else (None, {})
    if best is not None and not best[key]:
        best, comparisons = None, {}  # no open (or click) yet: nobody leads
    for row in rows:
        row["leader"] = best is not None and row is best
        row["winner"] = row["id"] == campaign.winner_variant_id
        row["vs_leader"] = _comparison_json(comparisons.get(row["label"]))
    rest = figures.get(None, empty)
    return {
        "ab_test": dict(campaign.ab_test),
        "phase": campaign.ab_phase,
        "metric": metric,
        "metric_name": METRIC_NAMES[metric],
        "wait_until": campaign.ab_wait_until,
        "wait_over": bool(campaign.ab_wait_until and campaign.ab_wait_until <= _now()),
        "winner_variant_id": campaign.winner_variant_id,
        "decision": campaign.ab_result,
        "can_pick": campaign.ab_phase == "waiting" and campaign.status in ("sending", "paused"),
        "variants": rows,
        "rest": {k: rest[k] for k in ("recipients", "held", "sent", "delivered", "unique_opens", "unique_clicks")},
    }
