"""What a subscriber's `consent` records: when and how they agreed to be mailed.

    {"at": ISO time, "ip": address or null, "method": METHOD, "form_id"?: id, "program_id"?: id}

`method` is the way the agreement was given: `form` (a signup form, not confirmed by email),
`referral` (a referral program's landing page, growth/referral_landing.py, with its `program_id`),
`double opt-in` (confirmed by the link in the confirmation email; `signed_up_at` and
`signup_ip` then keep the signup's own time and address), `import` (the marketer's list,
taken as already consented), `api` or `dashboard` (added by the workspace's own systems or
team). The ip is the person's only where they acted themselves (forms, confirmations).
"""

from datetime import datetime, timezone

METHODS = ("form", "double opt-in", "import", "api", "dashboard", "referral")


def consent_record(method: str, ip: str | None = None, form_id: int | None = None, at: datetime | None = None) -> dict:
    """The consent of a person who agreed `at` (now) by `method`, from `ip`, through form `form_id`."""
    record = {
        "at": (at or datetime.now(timezone.utc)).isoformat(),
        "ip": (ip or None) and str(ip)[:64],
        "method": method,
    }
    if form_id is not None:
        record["form_id"] = form_id
    return record


def confirmed(previous: dict | None, ip: str | None, at: datetime | None = None) -> dict:
    """The consent after the person clicked their confirmation link: the signup's details kept beside it."""
    previous = previous or {}
    record = consent_record("double opt-in", ip, previous.get("form_id"), at)
    record["signed_up_at"] = previous.get("at")
    record["signup_ip"] = previous.get("ip")
    return record
