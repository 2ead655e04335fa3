"""Images: the public files recipients' mail clients load, and the dashboard's image library
(page, upload for the builder, picker fragment)."""

import os

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from app.blueprints.helpers import commit, page_number, workspace_view
from app.extensions import db
from app.services.content import media
from app.services.errors import DomainError
from app.services.pagination import paginate

bp = Blueprint("media", __name__)
PER_PAGE = 48
PICKER_LIMIT = 200


@bp.app_template_filter("filesize")
def filesize(n) -> str:
    return media.human_size(int(n or 0))


@bp.app_template_global("image_alt")
def image_alt(filename: str) -> str:
    return media.default_alt(filename or "")


# Public -------------------------------------------------------------------------------------------


@bp.route("/media/<key>")
def serve(key):
    """A stored image, to anyone with its key: no session, no database, never a path outside MEDIA_DIR."""
    path = media.local_path(current_app.config["MEDIA_DIR"], key)
    if path is None or not os.path.isfile(path):
        return _not_found()
    response = send_file(
        path,
        mimetype=media.CONTENT_TYPES[key.rsplit(".", 1)[1]],
        conditional=True,
        etag=True,
        max_age=31536000,
    )
    response.headers["Cache-Control"] = media.CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"  # webmail shows it from its own origin
    return response


def _not_found() -> Response:
    response = Response("Not found\n", status=404, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# Dashboard ----------------------------------------------------------------------------------------


@bp.route("/images/")
@workspace_view
def index():
    return _index_page()


def _index_page(errors: dict | None = None, status: int = 200):
    page = page_number()
    images, total = paginate(media.list_images(g.ws_id), page, PER_PAGE)
    return render_template(
        "media/index.html",
        images=images,
        total=total,
        page=page,
        per_page=PER_PAGE,
        errors=errors or {},
        max_bytes=current_app.config["MEDIA_MAX_BYTES"],
    ), status


@bp.route("/images/", methods=["POST"])
@workspace_view
def upload_form():
    """The page's upload form (no JavaScript needed): one or more files, each kept or refused on its own."""
    uploads = [u for u in request.files.getlist("file") if u and u.filename]
    if not uploads:
        return _index_page({"file": "Choose an image to upload."}, 422)
    stored, problems = [], []
    for upload in uploads:
        try:
            image = media.store_image(g.ws_id, upload.filename, _read(upload), config=current_app.config)
            commit()
            stored.append(image.filename)
        except DomainError as exc:
            db.session.rollback()
            problems.append(exc.message)
    for message in problems:
        flash(message, "danger")
    if stored:
        flash(f"Uploaded {', '.join(f'“{n}”' for n in stored)}.", "success")
        return redirect(url_for("media.index"))
    return _index_page({"file": problems[0]}, 422)


@bp.route("/images/upload", methods=["POST"])
@workspace_view
def upload():
    """The builder's upload: multipart `file`, CSRF token in X-CSRFToken; answers JSON."""
    file = request.files.get("file")
    if file is None or not file.filename:
        return jsonify(error="Choose an image to upload (send it in the field “file”)."), 422
    try:
        image = media.store_image(g.ws_id, file.filename, _read(file), config=current_app.config)
        commit()
    except DomainError as exc:
        db.session.rollback()
        return jsonify(error=exc.message), exc.status
    return jsonify(image_json(image))


def image_json(image) -> dict:
    return {"id": image.id, "url": image.url, "width": image.width, "height": image.height, "filename": image.filename}


def _read(upload) -> bytes:
    # One byte past the limit is enough to say it is too large; the rest is never read into memory.
    return upload.read(current_app.config["MEDIA_MAX_BYTES"] + 1)


@bp.route("/images/picker")
@workspace_view
def picker():
    """HTML fragment for the builder's image picker: the newest images as buttons."""
    images = list(db.session.scalars(media.list_images(g.ws_id).limit(PICKER_LIMIT)))
    return render_template("media/_picker.html", images=images, limit=PICKER_LIMIT)


@bp.route("/images/<int:image_id>/delete", methods=["POST"])
@workspace_view
def delete(image_id):
    image = media.get_image(g.ws_id, image_id)
    name = image.filename
    media.delete_image(g.ws_id, image_id, config=current_app.config)
    commit()
    flash(f"“{name}” deleted.", "success")
    return redirect(url_for("media.index"))


# The builder's upload answers JSON even when the request fails before the view runs.


@bp.errorhandler(CSRFError)
def _csrf_error(exc):
    if request.endpoint == "media.upload":
        return jsonify(error="The page expired: reload it and try again."), 400
    return render_template(
        "errors/error.html",
        code=400,
        title="Form expired",
        message="The form expired or was sent from elsewhere: reload the page and try again.",
    ), 400


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    limit = media.human_size(current_app.config["MEDIA_MAX_BYTES"])
    message = f"The upload is larger than this server accepts; an image may be at most {limit}."
    if request.endpoint == "media.upload":
        return jsonify(error=message), 413
    return render_template("errors/error.html", code=413, title="Too large", message=message), 413
