"""Sending providers: index, add SMTP, edit, test, make default."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, workspace_view
from app.services import providers
from app.services.errors import DomainError

bp = Blueprint("providers", __name__, url_prefix="/providers")


def _limits(form) -> dict:
    out = {}
    for name in ("max_sends_per_second", "max_sends_per_day"):
        raw = (form.get(name) or "").strip()
        try:
            out[name] = int(raw) if raw else None
        except ValueError:
            raise DomainError(f"{name.replace('_', ' ')} must be a whole number.", {name: "A whole number."}) from None
    return out


def _settings(form) -> dict:
    return {"host": form.get("host"), "port": form.get("port"), "use_tls": form.get("use_tls") or False}


def _credentials(form) -> dict:
    return {"username": (form.get("username") or "").strip() or None, "password": form.get("password") or None}


@bp.route("/")
@workspace_view
def index():
    return render_template("providers/index.html", items=providers.list_providers(g.ws_id))


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    form, errors = {"port": 587, "use_tls": "starttls"}, {}
    if request.method == "POST":
        form = request.form
        p, errors = attempt(
            lambda: providers.create_provider(
                g.ws_id,
                form.get("name"),
                "smtp",
                _settings(form),
                _credentials(form),
                is_default=form.get("is_default") == "on",
                **_limits(form),
            )
        )
        errors = {k.split(".")[-1]: v for k, v in errors.items()}
        if p:
            flash(f"Provider “{p.name}” added. Test it to check the connection.", "success")
            return redirect(url_for("providers.show", provider_id=p.id))
    return render_template("providers/form.html", provider=None, form=form, errors=errors), (422 if errors else 200)


@bp.route("/<int:provider_id>", methods=["GET", "POST"])
@workspace_view
def show(provider_id):
    p = providers.get_provider(g.ws_id, provider_id)
    if p.provider_type == "outbox":
        return render_template("providers/outbox.html", provider=p)
    creds = providers.credentials_summary(p)
    form = {
        **(p.settings or {}),
        "name": p.name,
        "username": creds["username"],
        "max_sends_per_second": p.max_sends_per_second,
        "max_sends_per_day": p.max_sends_per_day,
    }
    errors = {}
    if request.method == "POST":
        form = request.form
        saved, errors = attempt(
            lambda: providers.update_provider(
                g.ws_id, p.id, form.get("name"), _settings(form), _credentials(form), **_limits(form)
            )
        )
        errors = {k.split(".")[-1]: v for k, v in errors.items()}
        if saved:
            flash("Provider saved.", "success")
            return redirect(url_for("providers.show", provider_id=p.id))
    return render_template(
        "providers/form.html", provider=p, form=form, errors=errors, password_set=creds["password_set"]
    ), (422 if errors else 200)


@bp.route("/<int:provider_id>/test", methods=["POST"])
@workspace_view
def test(provider_id):
    p = providers.test_provider(g.ws_id, provider_id)
    commit()
    if p.last_check_status == "ok":
        flash(f"“{p.name}” answered and accepted the credentials.", "success")
    else:
        flash(f"“{p.name}” failed the check: {p.last_error}", "danger")
    return redirect(url_for("providers.show", provider_id=p.id))


@bp.route("/<int:provider_id>/default", methods=["POST"])
@workspace_view
def make_default(provider_id):
    providers.make_default(g.ws_id, provider_id)
    commit()
    flash("Default provider changed: new campaigns send through it.", "success")
    return redirect(url_for("providers.index"))
