"""Domain exceptions: blueprints map them to a flash message or a 4xx answer."""


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationError(DomainError):
    status = 422
    code = "invalid"


class Forbidden(DomainError):
    """The role of whoever asks does not allow this (services/platform/roles.py)."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidState(DomainError):
    status = 409
    code = "invalid_state"


class InsufficientBalance(InvalidState):
    """A debit larger than what is left (loyalty points, a gift card's balance): nothing was taken."""

    code = "insufficient_balance"
