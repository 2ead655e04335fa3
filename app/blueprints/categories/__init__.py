"""Categories (Audience): the kinds of campaign people can opt out of or get less often."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, workspace_view
from app.services.audience import preferences

bp = Blueprint("categories", __name__, url_prefix="/categories")


def _index(form: dict, errors: dict, status: int = 200):
    return render_template(
        "categories/index.html",
        categories=preferences.categories_with_counts(g.ws_id),
        form=form,
        errors=errors,
    ), status


@bp.route("/")
@workspace_view
def index():
    return _index({}, {})


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    form = request.form
    category, errors = attempt(preferences.create_category, g.ws_id, form.get("name"), form.get("description"))
    if errors:
        return _index(form, errors, 422)
    flash(f"Category “{category.name}” created: choose it on a campaign's form.", "success")
    return redirect(url_for("categories.index"))


@bp.route("/<int:category_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(category_id):
    category = preferences.get_category(g.ws_id, category_id)
    form, errors = {"name": category.name, "description": category.description}, {}
    if request.method == "POST":
        form = request.form
        saved, errors = attempt(
            preferences.update_category, g.ws_id, category.id, form.get("name"), form.get("description")
        )
        if saved:
            flash(f"Category “{saved.name}” saved.", "success")
            return redirect(url_for("categories.index"))
    return render_template("categories/edit.html", category=category, form=form, errors=errors), (
        422 if errors else 200
    )


@bp.route("/<int:category_id>/delete", methods=["POST"])
@workspace_view
def delete(category_id):
    category = preferences.get_category(g.ws_id, category_id)
    name = category.name
    _, errors = attempt(preferences.delete_category, g.ws_id, category.id)
    if not errors:
        flash(f"Category “{name}” deleted; its campaigns now have no category.", "success")
    return redirect(url_for("categories.index"))
