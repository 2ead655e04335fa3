"""Signup forms (Audience → Signup forms): create, show (hosted URL, embed snippet, submissions), edit, delete."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, int_list, workspace_view
from app.services.audience import contacts, signup_forms
from app.services.audience.signup_forms import ATTRIBUTE_INPUT
from app.services.audience.tags import split_tags

bp = Blueprint("signup_forms", __name__, url_prefix="/signup-forms")


@bp.route("/")
@workspace_view
def index():
    forms = signup_forms.list_forms(g.ws_id)
    return render_template("signup_forms/index.html", forms=forms, base_url=current_app.config["BASE_URL"])


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    values, errors = {"fields": ["name"]}, {}
    if request.method == "POST":
        values = _posted()
        form, errors = attempt(signup_forms.create_form, g.ws_id, values)
        if form:
            flash(f"Signup form “{form.name}” created: copy its link or its HTML below.", "success")
            return redirect(url_for("signup_forms.show", form_id=form.id))
    return _edit_page(None, values, errors)


@bp.route("/<int:form_id>")
@workspace_view
def show(form_id):
    form = signup_forms.get_form(g.ws_id, form_id)
    base = current_app.config["BASE_URL"]
    return render_template(
        "signup_forms/show.html",
        form=form,
        lists=signup_forms.form_lists(form),
        inputs=signup_forms.inputs(form),
        hosted_url=signup_forms.hosted_url(form, base),
        snippet=signup_forms.embed_snippet(form, base),
    )


@bp.route("/<int:form_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(form_id):
    form = signup_forms.get_form(g.ws_id, form_id)
    values, errors = _stored(form), {}
    if request.method == "POST":
        values = _posted()
        saved, errors = attempt(signup_forms.update_form, g.ws_id, form.id, values)
        if saved:
            flash(f"Signup form “{saved.name}” saved; its page and embedded copies use it at once.", "success")
            return redirect(url_for("signup_forms.show", form_id=form.id))
    return _edit_page(form, values, errors)


@bp.route("/<int:form_id>/delete", methods=["POST"])
@workspace_view
def delete(form_id):
    form = signup_forms.get_form(g.ws_id, form_id)
    name = form.name
    signup_forms.delete_form(g.ws_id, form.id)
    commit()
    flash(f"Signup form “{name}” deleted; the people who signed up with it stay.", "success")
    return redirect(url_for("signup_forms.index"))


def _posted() -> dict:
    """The edit page's inputs as the service's settings."""
    f = request.form
    fields = [name for name in ("name", "timezone") if f.get(f"field_{name}")]
    fields += [ATTRIBUTE_INPUT + a.strip() for a in split_tags(f.get("extra_fields", "")) if a.strip()]
    return {
        "name": f.get("name", ""),
        "fields": fields,
        "list_ids": int_list(f.getlist("list_ids")),
        "tags": f.get("tags", ""),
        "redirect_url": f.get("redirect_url", ""),
        "thank_you_message": f.get("thank_you_message", ""),
    }


def _stored(form) -> dict:
    return {
        "name": form.name,
        "fields": list(form.fields or []),
        "list_ids": list(form.list_ids or []),
        "tags": ", ".join(form.tags or []),
        "redirect_url": form.redirect_url or "",
        "thank_you_message": form.thank_you_message or "",
    }


def _edit_page(form, values: dict, errors: dict):
    fields = values.get("fields") or []
    extra = ", ".join(f[len(ATTRIBUTE_INPUT) :] for f in fields if f.startswith(ATTRIBUTE_INPUT))
    tags = values.get("tags")
    return render_template(
        "signup_forms/edit.html",
        form=form,
        values=values,
        fields=fields,
        extra_fields=extra,
        tags=", ".join(tags) if isinstance(tags, list) else tags or "",
        lists=contacts.lists_with_counts(g.ws_id),
        selected=set(values.get("list_ids") or []),
        errors=errors,
    ), (422 if errors else 200)
