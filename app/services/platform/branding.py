"""A workspace's brand on the public pages recipients see (preference center, unsubscribe, signup and
confirmation pages): its name, a logo and a colour for the header and the buttons.

The colour is stored only as "#RRGGBB" and the logo only as an https URL or one of the workspace's own
images (the media library), so what a page writes into its style and its <img> is never free text;
`Brand` still checks both again, as the pages' last line of defence.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.extensions import db
from app.models import Workspace
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform.workspaces import record_settings_change, settings_snapshot

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#206bc4"
LOGO_URL_LENGTH = 1000
_URL_UNSAFE = re.compile(r"[\s\"'<>\\`]")


def clean_color(value) -> str | None:
    """A colour as "#RRGGBB" (lower-cased), None for none; ValidationError for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    if not text.startswith("#"):
        text = "#" + text
    if not COLOR.fullmatch(text):
        message = f"'{str(value)[:20]}' is not a colour: write it as #RRGGBB, e.g. #1a7f5a."
        raise ValidationError(message, {"brand_color": message})
    return text.lower()


def clean_logo_url(value) -> str | None:
    """An https URL of an image, None for none; ValidationError for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    parts = urlsplit(text)
    problem = None
    if len(text) > LOGO_URL_LENGTH:
        problem = f"Keep the logo URL under {LOGO_URL_LENGTH} characters."
    elif parts.scheme.lower() != "https" or not parts.hostname:
        problem = "The logo must be an https:// address (or choose one of your images)."
    elif _URL_UNSAFE.search(text) or parts.username or parts.password:
        problem = "That is not a usable image address."
    if problem:
        raise ValidationError(problem, {"logo_url": problem})
    return text


def update_branding(workspace: Workspace, logo_url=None, brand_color=None, logo_image_id=None) -> Workspace:
    """Set the logo (an https URL, or one of the workspace's images by id, which wins) and the colour
    of the workspace's public pages; empty values remove them."""
    errors, message = {}, None
    try:
        color = clean_color(brand_color)
    except ValidationError as exc:
        errors.update(exc.fields)
        message = exc.message
    try:
        if logo_image_id:
            logo = _image_url(workspace.id, logo_image_id)
        elif isinstance(logo_url, str) and logo_url.strip() and logo_url.strip() == workspace.logo_url:
            logo = workspace.logo_url  # unchanged (an image of the library may be served over http locally)
        else:
            logo = clean_logo_url(logo_url)
    except ValidationError as exc:
        errors.update(exc.fields)
        message = exc.message
    if errors:
        raise ValidationError(message if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    before = settings_snapshot(workspace)
    workspace.logo_url, workspace.brand_color = logo, color
    db.session.flush()
    record_settings_change(workspace, before)
    return workspace


def _image_url(workspace_id: int, image_id) -> str:
    from app.services.content import media

    try:
        return media.get_image(workspace_id, as_id(image_id) or 0).url
    except NotFound:
        message = "Choose one of this workspace's images."
        raise ValidationError(message, {"logo_image_id": message}) from None


@dataclass(frozen=True)
class Brand:
    """What a public page shows of a workspace: name, logo (or None) and colours, each safe to write."""

    name: str
    logo_url: str | None
    color: str
    on_color: str  # text drawn on `color`: dark on a light brand colour, white on a dark one

    @classmethod
    def of(cls, workspace: Workspace | None) -> "Brand":
        if not isinstance(workspace, Workspace):  # a page about no workspace (a link that does not work)
            return cls("", None, DEFAULT_COLOR, "#ffffff")
        color = workspace.brand_color if COLOR.fullmatch(workspace.brand_color or "") else DEFAULT_COLOR
        logo = workspace.logo_url if _safe_logo(workspace.logo_url) else None
        return cls(workspace.name, logo, color, text_on(color))


def _safe_logo(url: str | None) -> bool:
    if not url or _URL_UNSAFE.search(url):
        return False
    return urlsplit(url).scheme.lower() in ("https", "http")  # http: the media library of a local Herald


def text_on(color: str) -> str:
    """White or dark text, whichever contrasts more with `color` (WCAG relative luminance)."""
    dark = "#1d273b"
    on_white = 1.05 / (_luminance(color) + 0.05)
    on_dark = (_luminance(color) + 0.05) / (_luminance(dark) + 0.05)
    return "#ffffff" if on_white >= on_dark else dark


def _luminance(color: str) -> float:
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
