"""One error hierarchy: each error knows its HTTP status and what a stream consumer does with it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class StreamAction(StrEnum):
    """What a JetStream consumer does with a message whose handler raised."""

    ACK = "ack"
    NAK = "nak"
    TERM = "term"


class AppError(Exception):
    """Base of every expected error. Permanent unless a subclass says otherwise."""

    status: int = 500
    code: str = "internal"
    action: StreamAction = StreamAction.TERM

    def __init__(self, message: str, *, field: str | None = None, details: Any = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        # For transient errors: when the dependency asked to be retried (e.g. a provider's Retry-After).
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict[str, Any]:
        """The error JSON shape used everywhere: ``{"error": {"code", "message", "field"?}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class Invalid(AppError):
    """The input is wrong; retrying it will not help."""

    status = 400
    code = "invalid"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    action = StreamAction.NAK


class Transient(AppError):
    """A dependency is unavailable for now; the caller should retry later."""

    status = 503
    code = "unavailable"
    action = StreamAction.NAK
