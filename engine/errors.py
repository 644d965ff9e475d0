"""Domain errors. The web layer maps each to an HTTP status; the CLI to an exit code."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class BadRequest(DomainError):
    code, status = "bad_request", 400


class Unauthorized(DomainError):
    code, status = "unauthorized", 401


class Forbidden(DomainError):
    code, status = "forbidden", 403


class NotFound(DomainError):
    """Also raised for records the caller may not see, so their existence never leaks."""

    code, status = "not_found", 404


class Conflict(DomainError):
    code, status = "conflict", 409


class TooLarge(DomainError):
    code, status = "too_large", 413


class InvalidData(DomainError):
    code, status = "invalid", 422
