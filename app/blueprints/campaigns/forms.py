"""The campaign form <-> the data the campaign services take, as pure functions.

campaign_data reads a posted form (templates/campaigns/form.html and its _*_fields.html parts) into the
dict drafts.create_campaign and update_campaign take: one reader per kind of setting
(services/campaigns/settings.py), and the A/B test, send window, repeat and Delivery fields apart.
new_values and edit_values are what the form shows before anything is posted.
"""

from app.blueprints.helpers import int_list
from app.services.campaigns import ab_tests
from app.services.campaigns.settings import SETTINGS
from app.services.ids import as_id, parse_int

# How a setting of each kind is read from the form; routing_config comes with what was typed (routing_data).
_READERS = {
    "text": lambda f, name: f.get(name),
    "email": lambda f, name: f.get(name),
    "id": lambda f, name: f.get(name) or None,
    "ids": lambda f, name: int_list(f.getlist(name)),
    "flag": lambda f, name: f.get(name) == "on",
    "percent": lambda f, name: (f.get(name) or "").strip() or 0,
    "send_window": lambda f, name: window_data(f),
    "recurrence": lambda f, name: recurrence_data(f),
}


def campaign_data(f) -> dict:
    """The posted form as the services take it; `routing_ui` keeps what was typed in the Delivery fields."""
    data = {s.name: _READERS[s.kind](f, s.name) for s in SETTINGS if s.kind in _READERS}
    return {**data, **ab_data(f), **routing_data(f)}


def new_values(args) -> dict:
    """A new campaign's form: the settings' defaults, and a list or template chosen in the link."""
    return {
        **{s.name: s.default for s in SETTINGS if s.default is not None},
        "list_ids": int_list([args.get("list_id")]),
        "segment_ids": int_list([args.get("segment_id")]),
        "template_id": as_id(args.get("template_id")),
        **ab_values(ab_tests.form_values(None)),
    }


def edit_values(values: dict, ab: dict) -> dict:
    """A saved campaign's form, from its settings (drafts.campaign_values) and test (ab_tests.form_values)."""
    return {
        **values,
        "send_window": values["send_window"] or None,
        "recurrence": values["recurrence"] or None,
        **ab_values(ab),
        **routing_values(values["routing_config"]),
    }


# A/B test (templates/campaigns/_ab_fields.html) ----------------------------------------------------


def variant_rows(f) -> list[dict]:
    """The variant rows of the form (variants-<i>-<field>), in the order shown."""
    rows: dict[int, dict] = {}
    for key, value in f.items():
        parts = key.split("-")
        index = parse_int(parts[1], max_digits=2) if len(parts) == 3 and parts[0] == "variants" else None
        if index is not None and index >= 0 and parts[2] in ab_tests.VARIANT_FIELDS:
            rows.setdefault(index, {})[parts[2]] = value
    return [rows[i] for i in sorted(rows)][: ab_tests.MAX_VARIANTS + 1]


def ab_data(f) -> dict:
    """The A/B test fields; ab_test None when switched off."""
    variants = variant_rows(f)
    if f.get("ab_enabled") != "on":
        return {"ab_test": None, "variants": variants}
    settings = {
        "test_percent": f.get("ab_test_percent"),
        "metric": f.get("ab_metric"),
        "wait_minutes": f.get("ab_wait_minutes"),
        "auto_pick": f.get("ab_auto_pick") == "on",
    }
    return {"ab_test": settings, "variants": variants}


def ab_values(ab: dict) -> dict:
    """A campaign's test (ab_tests.form_values) as the A/B fields show it."""
    return {"ab_test": ab["ab_test"] if ab["ab_enabled"] else None, "variants": ab["variants"]}


def change_variant_rows(f) -> list[dict]:
    """The variant rows again, with one added (ab_action=add) or one removed (ab_action=remove-<i>)."""
    variants = variant_rows(f)
    action = f.get("ab_action", "")
    if action == "add" and len(variants) < ab_tests.MAX_VARIANTS:
        variants.append({})
    elif action.startswith("remove-") and len(variants) > ab_tests.MIN_VARIANTS:
        index = parse_int(action[7:], max_digits=2)
        variants = [v for i, v in enumerate(variants) if i != index]
    return variants


# Send window and repeat (templates/campaigns/_window_fields.html, _recurrence_fields.html) ---------


def _weekdays(values) -> list[int]:
    return [day for day in (parse_int(v, max_digits=1) for v in values) if day is not None and day >= 0]


def window_data(f) -> dict | None:
    """The send window fields; None when switched off."""
    if f.get("window_enabled") != "on":
        return None
    return {
        "days": _weekdays(f.getlist("window_days")),
        "start": f.get("window_start"),
        "end": f.get("window_end"),
        "timezone": f.get("window_timezone"),
    }


def recurrence_data(f) -> dict | None:
    """The repeat fields; None when sent once."""
    if f.get("repeat") != "on":
        return None
    return {
        "frequency": f.get("recurrence_frequency"),
        "days": _weekdays(f.getlist("recurrence_days")),
        "day_of_month": f.get("recurrence_day_of_month") or None,
        "time": f.get("recurrence_time"),
        "timezone": f.get("recurrence_timezone"),
        "until": f.get("recurrence_until") or None,
    }


# Delivery (templates/campaigns/_routing_fields.html) -----------------------------------------------


def _number(raw):
    """A typed number as int or float, None when empty; other text as it is (the service says why)."""
    text = (raw or "").strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _routing_rank(ui: dict, ids: list[str]) -> list[str]:
    """The ticked providers sorted by the order typed beside them (ties and blanks keep their place)."""

    def rank(item):
        pos, key = item
        n = _number(ui["order"].get(key))
        return (0, n, pos) if isinstance(n, (int, float)) else (1, 0, pos)

    return [key for _, key in sorted(enumerate(ids), key=rank)]


def routing_data(f) -> dict:
    """The Delivery fields: routing_config None for the default provider, and what was typed (routing_ui)
    to show again as it was."""
    ui = {
        "mode": "several" if f.get("routing_mode") == "several" else "default",
        "strategy": f.get("routing_strategy") or "priority",
        "fallback": f.get("routing_fallback") == "on",
        "providers": f.getlist("routing_providers"),
        "order": {k[len("routing_order-") :]: v for k, v in f.items() if k.startswith("routing_order-")},
        "weights": {k[len("routing_weight-") :]: v for k, v in f.items() if k.startswith("routing_weight-")},
    }
    if ui["mode"] == "default":
        return {"routing_config": None, "routing_ui": ui}
    ordered = _routing_rank(ui, ui["providers"])
    weights = {str(as_id(k) or k): _number(ui["weights"].get(k)) for k in ordered}
    config = {
        "strategy": ui["strategy"],
        "providers": [as_id(k) or k for k in ordered],
        "weights": {k: w for k, w in weights.items() if w is not None},
        "fallback": ui["fallback"],
    }
    return {"routing_config": config, "routing_ui": ui}


def routing_values(config) -> dict:
    """A saved routing_config as the Delivery fields show it."""
    if not config:
        return {"routing_config": None, "routing_ui": None}
    ids = [str(i) for i in config.get("providers") or []]
    ui = {
        "mode": "several",
        "strategy": config.get("strategy") or "priority",
        "fallback": bool(config.get("fallback")),
        "providers": ids,
        "order": {k: str(n) for n, k in enumerate(ids, 1)},
        "weights": {str(k): str(w) for k, w in (config.get("weights") or {}).items()},
    }
    return {"routing_config": config, "routing_ui": ui}


def routing_rows(provider_list, ui) -> list[dict]:
    """The provider rows of the Delivery fields: the ticked ones first, in their order, then the others."""
    ui = ui or {"providers": [], "order": {}, "weights": {}}
    by_key = {str(p.id): p for p in provider_list}
    ticked = [k for k in _routing_rank(ui, ui["providers"]) if k in by_key]
    keys = ticked + [k for k in by_key if k not in ticked]
    return [
        {
            "provider": by_key[k],
            "checked": k in ticked,
            "order": ui["order"].get(k, str(n)),
            "weight": ui["weights"].get(k, "1"),
        }
        for n, k in enumerate(keys, 1)
    ]
