"""Gift cards: the list (last four characters, balance, status), issuing one (its code shown once), making
many (their codes downloaded once), a card's page with its ledger, redemption, refund and its email."""

import base64
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, page_number, workspace_view
from app.services.errors import ValidationError
from app.services.growth import gift_card_mail, gift_cards
from app.services.pagination import paginate

bp = Blueprint("gift_cards", __name__, url_prefix="/gift-cards")
PER_PAGE = 50


def _index(status=200, errors=None, form=None):
    chosen = request.args.get("status") if request.args.get("status") in gift_cards.STATUSES else None
    q = (request.args.get("q") or "").strip()[:100]
    page = page_number()
    cards, total = paginate(gift_cards.list_cards(g.ws_id, chosen, q or None), page, PER_PAGE)
    return render_template(
        "gift_cards/index.html", cards=cards, total=total, page=page, per_page=PER_PAGE, status=chosen, q=q,
        statuses=gift_cards.STATUSES, totals=gift_cards.totals(g.ws_id), errors=errors or {}, form=form or {},
    ), status  # fmt: skip


@bp.route("/")
@workspace_view
def index():
    return _index()


def _expires_at(value: str | None):
    """A date from the form (the workspace's day): the card works until the end of it."""
    if not value:
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        raise ValidationError("Give a date such as 2027-12-31.", {"expires_on": "A date."}) from None
    tz = ZoneInfo(g.workspace.timezone or "UTC")
    return day.replace(hour=23, minute=59, second=59, tzinfo=tz).astimezone(timezone.utc)


def _issue(form):
    """The card, and its email when it has a recipient: one transaction."""
    issued = gift_cards.issue(
        g.ws_id, form.get("amount"), form.get("currency"), form.get("email"), form.get("message"),
        _expires_at(form.get("expires_on")),
    )  # fmt: skip
    if not issued.card.recipient_email:
        return issued, None
    return issued, gift_card_mail.deliver(issued.card, issued.code, idempotency_key=f"gift-card-{issued.card.id}")


@bp.route("/", methods=["POST"])
@workspace_view
def issue():
    made, errors = attempt(_issue, request.form)
    if made is None:
        return _index(422, errors, request.form)
    issued, delivery = made
    # Rendered, not redirected: the code exists only in this response.
    return render_template("gift_cards/issued.html", card=issued.card, code=issued.code, delivery=delivery), 201


@bp.route("/bulk")
@workspace_view
def bulk_form():
    return render_template("gift_cards/bulk.html", errors={}, form={}, batch=None)


def _bulk(form):
    count = form.get("count", "").strip()
    count = int(count) if count.isdigit() and len(count) < 7 else count
    return gift_cards.bulk_create(
        g.ws_id, count, form.get("amount"), form.get("currency"), _expires_at(form.get("expires_on"))
    )


@bp.route("/bulk", methods=["POST"])
@workspace_view
def bulk():
    form = request.form
    made, errors = attempt(_bulk, form)
    if made is None:
        return render_template("gift_cards/bulk.html", errors=errors, form=form, batch=None), 422
    # The CSV rides in this page as a data: link: the codes exist only in this response.
    csv_data = base64.b64encode(gift_cards.codes_csv(made).encode()).decode()
    return render_template("gift_cards/bulk.html", errors={}, form={}, batch=made, csv_data=csv_data), 201


def _card_page(card_id: int, status=200, errors=None, form=None):
    card = gift_cards.get_card(g.ws_id, card_id)
    return render_template(
        "gift_cards/show.html", card=card, ledger=gift_cards.ledger_of(card.id), errors=errors or {}, form=form or {}
    ), status


@bp.route("/<int:card_id>")
@workspace_view
def show(card_id):
    return _card_page(card_id)


@bp.route("/<int:card_id>/redeem", methods=["POST"])
@workspace_view
def redeem(card_id):
    form = request.form
    moved, errors = attempt(gift_cards.redeem_card, g.ws_id, card_id, form.get("amount"), None, form.get("reference"))
    if moved is None:
        return _card_page(card_id, 422, errors, form)
    flash(f"Redeemed {-moved.entry.amount:.2f} {moved.card.currency}: {moved.card.balance:.2f} left.", "success")
    return redirect(url_for("gift_cards.show", card_id=card_id))


@bp.route("/<int:card_id>/refund", methods=["POST"])
@workspace_view
def refund(card_id):
    form = request.form
    moved, errors = attempt(
        gift_cards.refund, g.ws_id, card_id, form.get("refund_amount"), form.get("refund_reference")
    )
    if moved is None:
        errors = {("refund_" + k if k in ("amount", "reference") else k): v for k, v in errors.items()}
        return _card_page(card_id, 422, errors, form)
    flash(f"Refunded {moved.entry.amount:.2f} {moved.card.currency}: {moved.card.balance:.2f} on the card.", "success")
    return redirect(url_for("gift_cards.show", card_id=card_id))


@bp.route("/<int:card_id>/resend", methods=["POST"])
@workspace_view
def resend(card_id):
    sent, _ = attempt(gift_card_mail.resend, g.ws_id, card_id)
    if sent is not None and sent.status == "queued":
        flash(f"The card's email is on its way to {gift_cards.get_card(g.ws_id, card_id).recipient_email}.", "success")
    elif sent is not None:
        flash(f"Not sent: {sent.reason}", "danger")
    return redirect(url_for("gift_cards.show", card_id=card_id))


@bp.route("/<int:card_id>/disable", methods=["POST"])
@workspace_view
def disable(card_id):
    return _set_disabled(card_id, True)


@bp.route("/<int:card_id>/enable", methods=["POST"])
@workspace_view
def enable(card_id):
    return _set_disabled(card_id, False)


def _set_disabled(card_id: int, disabled: bool):
    card, _ = attempt(gift_cards.set_disabled, g.ws_id, card_id, disabled)
    if card is not None:
        flash(f"Card …{card.last4} is {'disabled' if disabled else 'usable again'}.", "success")
    return redirect(url_for("gift_cards.show", card_id=card_id))


@bp.route("/redeem", methods=["POST"])
@workspace_view
def redeem_code():
    """The list page's "Redeem a code": a code read out at a till."""
    form = request.form
    moved, errors = attempt(gift_cards.redeem, g.ws_id, form.get("code"), form.get("redeem_amount"))
    if moved is None:
        errors = {("redeem_amount" if k == "amount" else k): v for k, v in errors.items()}
        return _index(404 if "code" in errors else 422, errors, form)
    flash(f"Redeemed {-moved.entry.amount:.2f} {moved.card.currency} from card …{moved.card.last4}: "
          f"{moved.card.balance:.2f} left.", "success")  # fmt: skip
    return redirect(url_for("gift_cards.show", card_id=moved.card.id))
