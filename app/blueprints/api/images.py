"""Images for emails: uploaded as multipart files, served from a public URL."""

from flask import current_app, request

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import image_json, page_json
from app.blueprints.helpers import commit
from app.services.content import media
from app.services.errors import ValidationError
from app.services.pagination import paginate

TAG = "Images"


@operation(
    "POST",
    "/images",
    "Upload an image",
    tag=TAG,
    multipart="ImageUpload",
    response="Image",
    status=201,
)
def upload_image():
    """A multipart upload in the field `file`. The format is read from the bytes (a PNG named .jpg is
    kept as a PNG); anything but PNG, JPEG, GIF or WebP, an empty file or one over the size limit answers
    422. The same bytes uploaded again answer the image already stored, with its id."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("file: Upload an image in the field 'file'.", {"file": "Required."})
    limit = current_app.config["MEDIA_MAX_BYTES"]
    image = media.store_image(workspace_id(), upload.filename, upload.read(limit + 1), config=current_app.config)
    commit()
    return image_json(image)


@operation("GET", "/images", "List images", tag=TAG, response="Image", paginated=True)
def list_images(query: dict):
    """Newest first."""
    items, total = paginate(media.list_images(workspace_id()), query["page"], query["per_page"])
    return page_json([image_json(m) for m in items], total, query)


@operation("GET", "/images/{image_id}", "Show an image", tag=TAG, response="Image")
def show_image(image_id: int):
    """One image: its URL, type, size in bytes and in pixels."""
    return image_json(media.get_image(workspace_id(), image_id))


@operation("DELETE", "/images/{image_id}", "Delete an image", tag=TAG, status=204)
def delete_image(image_id: int):
    """The image and its file go; emails already sent that show it will show a broken image."""
    media.delete_image(workspace_id(), image_id, config=current_app.config)
    commit()
    return ""
