"""Checks a form field as it is left (HTMX); the form's own submit stays the authority."""

from flask import Blueprint, abort, render_template, request

from app.services.audience.contacts import normalize_email
from app.services.content.html_text import unsafe_html_problems
from app.services.content.rendering import TemplateProblem, check_syntax
from app.services.errors import ValidationError

bp = Blueprint("validation", __name__, url_prefix="/validate")


def _email(value: str) -> str | None:
    try:
        normalize_email(value)
    except ValidationError as exc:
        return exc.message
    return None


def _jinja(value: str, html: bool) -> str | None:
    try:
        check_syntax("field", value, html=html)
    except TemplateProblem as exc:
        return f"Template error on {exc.message}"
    problems = unsafe_html_problems(value) if html else []
    return "; ".join(problems) or None


CHECKS = {
    "email": _email,
    "jinja_text": lambda v: _jinja(v, False),
    "jinja_html": lambda v: _jinja(v, True),
}


@bp.route("/<kind>", methods=["POST"])
def check(kind):
    """The field's error as a fragment, or nothing when the value is fine."""
    checker = CHECKS.get(kind)
    name = request.headers.get("HX-Trigger-Name") or ""
    if checker is None or not name:
        abort(404)
    value = request.form.get(name, "")
    error = checker(value) if value.strip() else None
    return render_template("components/_field_feedback.html", error=error)
