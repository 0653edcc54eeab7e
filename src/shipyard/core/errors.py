"""The one error tree of Shipyard; each class carries its HTTP status and a stable code.

    ShipyardError (500, InternalError)
    ├── ValidationError (400)        bad input; the message names the field
    ├── Unauthenticated (401)        no or unknown API key
    ├── AccessDenied (403)           authenticated, but not allowed
    ├── NotFound (404)               the named resource does not exist
    ├── AlreadyExists (409)          a resource of that kind and name exists
    ├── InvalidState (409)           the resource is in the wrong state for the verb
    └── Throttled (429)              too many requests

The server renders any of them as ``{"error": {"code": ..., "message": ...}}`` and the
SDK turns that body back into the same class with :func:`error_from_body`.
"""

from __future__ import annotations

from typing import Any


class ShipyardError(Exception):
    status_code = 500
    code = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class ValidationError(ShipyardError):
    status_code = 400
    code = "ValidationError"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class PayloadTooLarge(ShipyardError):
    status_code = 413
    code = "PayloadTooLarge"


class Unauthenticated(ShipyardError):
    status_code = 401
    code = "Unauthenticated"


class AccessDenied(ShipyardError):
    status_code = 403
    code = "AccessDenied"


class NotFound(ShipyardError):
    status_code = 404
    code = "NotFound"


class AlreadyExists(ShipyardError):
    status_code = 409
    code = "AlreadyExists"


class InvalidState(ShipyardError):
    status_code = 409
    code = "InvalidState"


class Throttled(ShipyardError):
    status_code = 429
    code = "Throttled"


ERRORS_BY_CODE: dict[str, type[ShipyardError]] = {
    cls.code: cls
    for cls in (
        ShipyardError,
        ValidationError,
        PayloadTooLarge,
        Unauthenticated,
        AccessDenied,
        NotFound,
        AlreadyExists,
        InvalidState,
        Throttled,
    )
}


def error_from_body(status_code: int, body: Any) -> ShipyardError:
    """Rebuild the server's exception from an error response body."""
    try:
        code = body["error"]["code"]
        message = body["error"]["message"]
    except (KeyError, TypeError):
        return ShipyardError(f"HTTP {status_code}: {str(body)[:500]}")
    cls = ERRORS_BY_CODE.get(code, ShipyardError)
    error = cls.__new__(cls)
    ShipyardError.__init__(error, message)
    return error
