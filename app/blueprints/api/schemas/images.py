"""Images uploaded for emails."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, integer, obj, response

IMAGE_UPLOAD = obj(
    {
        "file": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "A PNG, JPEG, GIF or WebP image (5 MB at most unless the server says otherwise). The "
            "format is read from the bytes, not from the name: SVG, HTML and anything else is refused.",
        },
    },
    required=("file",),
)
IMAGE = response(
    {
        "id": ID,
        "url": {"type": "string", "format": "uri", "description": "Public and permanent; use it in emails."},
        "filename": {"type": "string"},
        "content_type": {"enum": ["image/png", "image/jpeg", "image/gif", "image/webp"]},
        "size_bytes": COUNT,
        "width": integer(minimum=1, nullable=True),
        "height": integer(minimum=1, nullable=True),
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "ImageUpload": IMAGE_UPLOAD,
    "Image": IMAGE,
}
