"""Lists: index, create, show, delete."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, page_number, workspace_view
from app.services.audience import contacts
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
        lst = contacts.create_list(g.ws_id, request.form.get("name"), request.form.get("description"))
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
    return render_template("lists/show.html", lst=lst, subscribers=subs, total=total, page=page, per_page=50)


@bp.route("/<int:list_id>/delete", methods=["POST"])
@workspace_view
def delete(list_id):
    lst = contacts.get_list(g.ws_id, list_id)
    name = lst.name
    contacts.delete_list(g.ws_id, list_id)
    commit()
    flash(f"List “{name}” deleted; its subscribers are kept.", "success")
    return redirect(url_for("lists.index"))
