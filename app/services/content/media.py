"""Images for emails: checked with Pillow, stored on local disk or in an S3-compatible bucket.

Only PNG, JPEG, GIF and WebP are kept, whatever the file's name or declared type says: the
format is read from the bytes. Each image gets an unguessable key (recipients' mail clients
load it without signing in, so it must not be enumerable) and a public URL that never changes.
"""

import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
import threading
import warnings
from contextlib import suppress
from urllib.parse import quote

from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import MediaFile
from app.services.errors import DomainError, NotFound, ValidationError
from app.transactions import on_commit, on_rollback

log = logging.getLogger(__name__)

# Pillow format -> (content type, extension). Nothing else is ever opened: not SVG (it can carry
# script), not HTML, not BMP or TIFF (mail clients do not show them).
FORMATS = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
    "GIF": ("image/gif", ".gif"),
    "WEBP": ("image/webp", ".webp"),
}
CONTENT_TYPES = {ext.lstrip("."): ctype for ctype, ext in FORMATS.values()}
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{24}\.(png|jpg|gif|webp)")
# A key's bytes never change (a new upload gets a new key), so caches may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"
MAX_PIXELS = 40_000_000  # decoding is width × height × 4 bytes: a 5 MB file must not take gigabytes
_EXIF_ORIENTATION = 0x0112


class StorageError(DomainError):
    """The image store (disk or bucket) did not take or give the file: not the user's fault."""

    status = 503
    code = "storage_unavailable"


# Checking -----------------------------------------------------------------------------------------


def clean_filename(filename: str | None) -> str:
    """The name to show: no folders, no control characters, at most 255 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join("".join(ch for ch in name if ch.isprintable()).split())
    return name[:255] or "image"


def human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def default_alt(filename: str) -> str:
    """Alternative text suggested by a file's name: spring-sale_banner.png -> spring sale banner."""
    stem = filename.rsplit(".", 1)[0] if "." in filename.strip(".") else filename
    return " ".join(re.sub(r"[-_.]+", " ", stem).split())[:200]


def _refuse(message: str):
    raise ValidationError(message, {"file": message})


def inspect_image(name: str, data: bytes) -> tuple[str, int, int]:
    """(Pillow format, width, height) of an image Herald accepts; ValidationError otherwise."""
    fmt = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(FORMATS)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > MAX_PIXELS:
                    _refuse(f"“{name}” is {width}×{height} pixels; an image may have at most 40 million pixels.")
                img.verify()
            with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
                img.load()  # a truncated or damaged file fails here, not in a recipient's inbox
                orientation = img.getexif().get(_EXIF_ORIENTATION) if fmt in ("JPEG", "WEBP") else None
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _refuse(f"“{name}” has too many pixels; an image may have at most 40 million pixels.")
    except Exception:  # Pillow raises many kinds for hostile bytes; all mean the same to a user
        if fmt is None:
            _refuse(
                f"“{name}” is not a PNG, JPEG, GIF or WebP image. SVG, HTML and other files are refused, "
                "whatever their name."
            )
        _refuse(f"“{name}” looks like a {fmt.replace('WEBP', 'WebP')} image but is damaged or incomplete.")
    if orientation in (5, 6, 7, 8):  # shown turned a quarter: report the size people see
        width, height = height, width
    return fmt, width, height


# Storing ------------------------------------------------------------------------------------------


def store_image(workspace_id: int, filename: str | None, data: bytes, *, config) -> MediaFile:
    """Check an uploaded image and keep it; the same bytes again in a workspace give the same image.

    `config` is the app's config (MEDIA_DIR, MEDIA_MAX_BYTES, BASE_URL, S3_*). Flushes; the caller
    commits, and a transaction that does not commit takes the stored file away again.
    """
    name = clean_filename(filename)
    limit = int(config["MEDIA_MAX_BYTES"])
    if not data:
        _refuse(f"“{name}” is empty: choose an image file.")
    if len(data) > limit:
        _refuse(f"“{name}” is {human_size(len(data))}; an image may be at most {human_size(limit)}.")
    fmt, width, height = inspect_image(name, data)
    digest = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(
        select(MediaFile)
        .where(MediaFile.workspace_id == workspace_id, MediaFile.sha256 == digest)
        .order_by(MediaFile.id)
        .limit(1)
    )
    if existing is not None:
        return existing
    content_type, ext = FORMATS[fmt]
    token = secrets.token_urlsafe(18)  # 144 random bits
    # Never starting with "-", which a shell reads as an option (rm -x.png) and some checks refuse.
    key = ("m" + token[1:] if token.startswith("-") else token) + ext
    target = _Target.of(config)
    if target.bucket:
        storage, url = "s3", _put_s3(target, key, data, content_type)
    else:
        storage, url = "local", _write_local(target, key, data)
    on_rollback(lambda: _remove(target, storage, key))
    image = MediaFile(
        workspace_id=workspace_id,
        key=key,
        filename=name,
        content_type=content_type,
        size_bytes=len(data),
        width=width,
        height=height,
        storage=storage,
        url=url,
        sha256=digest,
    )
    db.session.add(image)
    db.session.flush()
    return image


def list_images(workspace_id: int):
    """A select of the workspace's images, newest first (paginate it, or take the first few)."""
    return (
        select(MediaFile)
        .where(MediaFile.workspace_id == workspace_id)
        .order_by(MediaFile.created_at.desc(), MediaFile.id.desc())
    )


def get_image(workspace_id: int, image_id: int) -> MediaFile:
    image = db.session.scalar(select(MediaFile).where(MediaFile.id == image_id, MediaFile.workspace_id == workspace_id))
    if image is None:
        raise NotFound("No such image.")
    return image


def delete_image(workspace_id: int, image_id: int, *, config) -> None:
    """Forget the image; its file or object goes once the transaction commits.

    Emails already sent that show it will show a broken image from then on.
    """
    image = get_image(workspace_id, image_id)
    target, storage, key = _Target.of(config), image.storage, image.key
    db.session.delete(image)
    db.session.flush()
    on_commit(lambda: _remove(target, storage, key))


def local_path(media_dir: str, key: str) -> str | None:
    """Where a locally stored key's file is, or None for anything that is not a key (no traversal)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        return None
    return os.path.join(os.path.abspath(media_dir), key)


# Backends -----------------------------------------------------------------------------------------


class _Target:
    """The storage settings one call needs, copied so that after-commit work does not need the app."""

    __slots__ = ("media_dir", "base_url", "bucket", "endpoint", "region", "public_url", "prefix")

    @classmethod
    def of(cls, config) -> "_Target":
        t = cls()
        t.media_dir = config["MEDIA_DIR"]
        t.base_url = config["BASE_URL"].rstrip("/")
        t.bucket = config.get("S3_BUCKET") or None
        t.endpoint = (config.get("S3_ENDPOINT_URL") or "").rstrip("/") or None
        t.region = config.get("S3_REGION") or "us-east-1"
        t.public_url = (config.get("S3_PUBLIC_URL") or "").rstrip("/") or None
        t.prefix = config.get("S3_PREFIX") or ""
        return t

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def object_url(self, key: str) -> str:
        path = quote(self.object_key(key), safe="/")
        if self.public_url:
            return f"{self.public_url}/{path}"
        if self.endpoint:
            return f"{self.endpoint}/{self.bucket}/{path}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{path}"


def _write_local(target: _Target, key: str, data: bytes) -> str:
    """Write atomically (a temporary file renamed into place): a reader sees all of it or nothing."""
    tmp = None
    try:
        os.makedirs(target.media_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.media_dir, prefix=".upload-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(target.media_dir, key))
    except OSError as exc:
        if tmp:
            with suppress(OSError):
                os.unlink(tmp)
        log.error("media: cannot write %s into %s: %s", key, target.media_dir, exc)
        raise StorageError("The image could not be saved on the server; try again later.") from None
    return f"{target.base_url}/media/{key}"


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _s3_client(target: _Target):
    """One boto3 client per endpoint and region, kept for the process (clients are thread-safe)."""
    cache_key = (target.endpoint, target.region)
    client = _clients.get(cache_key)
    if client is None:
        with _clients_lock:
            client = _clients.get(cache_key)
            if client is None:
                import boto3
                from botocore.config import Config as BotoConfig

                client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=target.endpoint,
                    region_name=target.region,
                    config=BotoConfig(
                        connect_timeout=5,
                        read_timeout=30,
                        retries={"max_attempts": 3, "mode": "standard"},
                        # MinIO, R2 and most other S3-compatible stores expect bucket names in the path.
                        s3={"addressing_style": "path"} if target.endpoint else {},
                    ),
                )
                _clients[cache_key] = client
    return client


def _put_s3(target: _Target, key: str, data: bytes, content_type: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _s3_client(target).put_object(
            Bucket=target.bucket,
            Key=target.object_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )
    except (BotoCoreError, ClientError) as exc:
        log.error("media: cannot put %s into bucket %s: %s", key, target.bucket, exc)
        raise StorageError("The image store did not accept the file; try again later.") from None
    return target.object_url(key)


def _remove(target: _Target, storage: str, key: str) -> None:
    """Remove a stored file or object; runs after the transaction, so it logs instead of raising."""
    try:
        if storage == "s3":
            _s3_client(target).delete_object(Bucket=target.bucket, Key=target.object_key(key))
        else:
            path = local_path(target.media_dir, key)
            if path:
                with suppress(FileNotFoundError):
                    os.unlink(path)
    except Exception as exc:  # the row is gone either way; a left-over file is only wasted space
        log.warning("media: could not remove %s (%s): %s", key, storage, exc)
