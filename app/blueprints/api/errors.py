"""Every API error, whatever raised it, answers {"error": {"code", "message", "fields"}}."""

import json

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.services.errors import DomainError

HTTP_MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Send your API key as 'Authorization: Bearer <key>'."),
    404: ("not_found", "No such resource in this workspace."),
    405: ("method_not_allowed", "That address does not accept this method."),
    413: ("too_large", "The request body is larger than this server accepts."),
    415: ("unsupported_media_type", "Send JSON with 'Content-Type: application/json'."),
    429: ("too_many_requests", "Too many requests: slow down and try again."),
}


class ApiError(DomainError):
    """An error of the HTTP layer itself (authentication, malformed JSON, wrong media type)."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message, fields)
        self.status = status
        self.code = code


def error_response(
    status: int, code: str, message: str, fields: dict | None = None, extra: dict | None = None
) -> Response:
    # `extra`: what an error says beyond its message (the advisor's blocking checks, for one).
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}, **(extra or {})}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="herald"'
    return response


def _domain_error(exc: DomainError):
    db.session.rollback()
    return error_response(exc.status, exc.code, exc.message, exc.fields, getattr(exc, "details", None))


def _http_error(exc: HTTPException):
    db.session.rollback()
    code, message = HTTP_MESSAGES.get(exc.code, (exc.name.lower().replace(" ", "_"), exc.description or exc.name))
    return error_response(exc.code or 400, code, message)


def _server_error(exc):
    db.session.rollback()
    return error_response(500, "server_error", "Herald hit an error; nothing was changed. The error is logged.")


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(DomainError, _domain_error)
    # The app's own handlers answer by status code and would win over a class handler.
    for status in (400, 401, 403, 404, 405, 406, 409, 413, 415, 429):
        bp.register_error_handler(status, _http_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(500, _server_error)

    @bp.after_app_request
    def complete_routing_errors(response: Response) -> Response:
        # An unknown path or method under the prefix never reaches the blueprint: the app's
        # error pages answer it, without `fields`. Complete them so every API error has one shape.
        if (
            request.blueprint is None
            and request.path.startswith(bp.url_prefix + "/")
            and response.status_code >= 400
            and response.is_json
        ):
            data = response.get_json(silent=True)
            if isinstance(data, dict) and isinstance(data.get("error"), dict) and "fields" not in data["error"]:
                data["error"]["fields"] = {}
                response.set_data(json.dumps(data))
        return response
