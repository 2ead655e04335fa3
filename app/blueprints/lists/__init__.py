"""Lists: index, create, show, edit (double opt-in and its confirmation email), delete."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.blueprints.helpers import attempt, commit, page_number, workspace_view
from app.services.audience import contacts, double_opt_in
from app.services.errors import DomainError
from app.services.pagination import paginate

bp = Blueprint("lists", __name__, url_prefix="/lists")


@bp.route("/")
@workspace_view
def index():
    return render_template("lists/index.html", lists=contacts.lists_with_counts(g.ws_id), errors={}, form={})


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    try:
        lst = contacts.create_list(
            g.ws_id,
            request.form.get("name"),
            request.form.get("description"),
            double_opt_in=bool(request.form.get("double_opt_in")),
        )
        commit()
    except DomainError as exc:
        return render_template(
            "lists/index.html",
            lists=contacts.lists_with_counts(g.ws_id),
            errors=exc.fields or {"name": exc.message},
            form=request.form,
        ), 422
    flash(f"List “{lst.name}” created.", "success")
    return redirect(url_for("lists.show", list_id=lst.id))


@bp.route("/<int:list_id>")
@workspace_view
def show(list_id):
    lst = contacts.get_list(g.ws_id, list_id)
    page = page_number()
    subs, total = paginate(contacts.search_subscribers(g.ws_id, list_id=lst.id), page, 50)
    return render_template(
        "lists/show.html",
        lst=lst,
        subscribers=subs,
        total=total,
        page=page,
        per_page=50,
        confirmation_template=double_opt_in.confirmation_template_of(lst),
    )


@bp.route("/<int:list_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(list_id):
    """Name, description and "Require confirmation (double opt-in)"."""
    lst = contacts.get_list(g.ws_id, list_id)
    form, errors = {"name": lst.name, "description": lst.description, "double_opt_in": lst.double_opt_in}, {}
    if request.method == "POST":
        form = {
            "name": request.form.get("name"),
            "description": request.form.get("description"),
            "double_opt_in": bool(request.form.get("double_opt_in")),
        }
        saved, errors = attempt(contacts.update_list, g.ws_id, lst.id, form)
        if saved:
            flash(f"List “{saved.name}” saved.", "success")
            return redirect(url_for("lists.show", list_id=lst.id))
    return render_template("lists/edit.html", lst=lst, form=form, errors=errors), (422 if errors else 200)


@bp.route("/<int:list_id>/confirmation-email", methods=["POST"])
@workspace_view
def customise_confirmation(list_id):
    """Give the list a confirmation template of its own, prefilled with Herald's wording, and open it."""
    lst = contacts.get_list(g.ws_id, list_id)  # another workspace's list: 404
    tpl, _ = attempt(double_opt_in.customise_confirmation, g.ws_id, lst.id, current_user.id)
    if tpl is None:
        return redirect(url_for("lists.show", list_id=list_id))
    flash("This is the list's confirmation email: keep the {{ confirm_url }} link in it.", "info")
    return redirect(url_for("email_templates.edit", template_id=tpl.id))


@bp.route("/<int:list_id>/confirmation-email/builtin", methods=["POST"])
@workspace_view
def builtin_confirmation(list_id):
    """Send Herald's wording again (the list's template stays among the templates)."""
    double_opt_in.use_builtin_confirmation(g.ws_id, list_id)
    commit()
    flash("The list's confirmation email is Herald's wording again.", "success")
    return redirect(url_for("lists.show", list_id=list_id))


@bp.route("/<int:list_id>/delete", methods=["POST"])
@workspace_view
def delete(list_id):
    lst = contacts.get_list(g.ws_id, list_id)
    name = lst.name
    contacts.delete_list(g.ws_id, list_id)
    commit()
    flash(f"List “{name}” deleted; its subscribers are kept.", "success")
    return redirect(url_for("lists.index"))
