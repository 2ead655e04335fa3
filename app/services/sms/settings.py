"""A workspace's SMS settings: the HELP answer, quiet hours, the price estimate and the default country.

Kept as one JSON object on the workspace; what is not set reads as the defaults below, so a
workspace that never opened the page still texts within 08:00–21:00 of its recipients.
"""

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation

from app.extensions import db
from app.models import Workspace
from app.services.errors import NotFound, ValidationError
from app.services.sms import phones

DEFAULTS = {
    "help_text": "",  # empty: "<workspace>: texts about your orders and offers. Reply STOP to stop."
    "quiet_start": "21:00",
    "quiet_end": "08:00",
    "price_per_segment": "0.0083",  # Twilio's US price per outbound segment at the time of writing
    "currency": "USD",
    "default_region": "US",
}
MAX_HELP = 320  # two GSM-7 segments
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class SmsSettings:
    help_text: str
    quiet_start: time
    quiet_end: time
    price_per_segment: Decimal
    currency: str
    default_region: str

    def as_dict(self) -> dict:
        return {
            "help_text": self.help_text,
            "quiet_start": self.quiet_start.strftime("%H:%M"),
            "quiet_end": self.quiet_end.strftime("%H:%M"),
            "price_per_segment": str(self.price_per_segment),
            "currency": self.currency,
            "default_region": self.default_region,
        }


def default_help(workspace_name: str) -> str:
    return f"{workspace_name}: texts about your orders and offers. Reply STOP to stop, START to start again."


def _read(workspace: Workspace) -> SmsSettings:
    raw = {**DEFAULTS, **(workspace.sms_settings or {})}
    return SmsSettings(
        help_text=raw["help_text"] or default_help(workspace.name),
        quiet_start=time.fromisoformat(raw["quiet_start"]),
        quiet_end=time.fromisoformat(raw["quiet_end"]),
        price_per_segment=Decimal(raw["price_per_segment"]),
        currency=raw["currency"],
        default_region=raw["default_region"],
    )


def settings_of(workspace_id: int) -> SmsSettings:
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace.")
    return _read(workspace)


def _clean(values: dict) -> dict:
    errors, out = {}, {}
    help_text = " ".join(str(values.get("help_text") or "").split())
    if len(help_text) > MAX_HELP:
        errors["help_text"] = f"Keep it under {MAX_HELP} characters (two segments)."
    out["help_text"] = help_text
    for key in ("quiet_start", "quiet_end"):
        value = str(values.get(key) or DEFAULTS[key]).strip()
        if not _TIME.match(value):
            errors[key] = "A time as HH:MM, e.g. 21:00."
        out[key] = value
    try:
        price = Decimal(str(values.get("price_per_segment") or DEFAULTS["price_per_segment"]).strip())
        if not price.is_finite() or not Decimal(0) <= price <= Decimal(10):
            raise InvalidOperation
        out["price_per_segment"] = str(price)
    except InvalidOperation:
        errors["price_per_segment"] = "A price from 0 to 10, e.g. 0.0083."
    currency = str(values.get("currency") or DEFAULTS["currency"]).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = "A three-letter currency code, e.g. USD."
    out["currency"] = currency
    region = str(values.get("default_region") or DEFAULTS["default_region"]).strip().upper()
    if not phones.region_valid(region):
        errors["default_region"] = "A two-letter country code, e.g. US."
    out["default_region"] = region
    if errors:
        raise ValidationError("Please correct the highlighted fields.", errors)
    return out


def update_settings(workspace_id: int, values: dict) -> SmsSettings:
    """Replace the SMS settings (fields not given fall back to the defaults); returns them read back."""
    if not isinstance(values, dict):
        raise ValidationError("The settings are an object.", {"settings": "An object."})
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace.")
    workspace.sms_settings = _clean(values)
    db.session.flush()
    return _read(workspace)
