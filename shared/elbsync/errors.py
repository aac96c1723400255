"""The one error hierarchy of elbsync.

Every failure that crosses a module boundary is an :class:`ElbsyncError`. Errors from httpx,
pydantic and jsonschema are wrapped where they enter (``raise ... from exc``); each handler turns
these into a reply in exactly one place (:mod:`elbsync.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import JsonValue

__all__ = [
    "ApiError",
    "AuthError",
    "BadRequestError",
    "BusyError",
    "ConfigError",
    "ConflictError",
    "DeadlineExceededError",
    "ElbsyncError",
    "InputError",
    "NoAnswerError",
    "NotFoundError",
    "NotImplementedYetError",
    "PathIdError",
    "QuotaError",
    "RemoteError",
    "ServerError",
    "ThrottledError",
    "api_error_class",
    "is_transient",
]


class ElbsyncError(Exception):
    """Root of every error elbsync raises on purpose."""

    #: A stable, snake_case label for replies, logs and alarms.
    code: ClassVar[str] = "internal_error"
    #: Whether the failure is the caller's fault (a 4xx-style reply) or ours / the cloud's.
    client_error: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}

    def to_json(self) -> dict[str, JsonValue]:
        """:meth:`to_dict` with every value plain JSON, for records and typed replies."""
        return {
            key: value if isinstance(value, str | int | bool) or value is None else str(value)
            for key, value in self.to_dict().items()
        }


class ConfigError(ElbsyncError):
    """A setting (environment variable or configuration document) is missing or invalid."""

    code = "config_error"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class InputError(ElbsyncError):
    """The caller sent something invalid. ``field`` names where, as a dotted path.

    Both may quote what the caller sent, and both end up in replies and log lines, so they are
    cut to a bounded length and any text that is not valid Unicode (a lone surrogate) is
    escaped: a hostile input never makes an answer large or unencodable.
    """

    code = "invalid_input"
    client_error = True
    #: Longest message and field path kept, in characters.
    MAX_MESSAGE_CHARS: ClassVar[int] = 500
    MAX_FIELD_CHARS: ClassVar[int] = 200

    def __init__(self, message: str, *, field: str | None = None) -> None:
        field = None if field is None else self._bounded(field, self.MAX_FIELD_CHARS)
        message = self._bounded(message, self.MAX_MESSAGE_CHARS)
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.problem = message

    def within(self, at: str) -> InputError:
        """This error with its field named from ``at`` (an event's path in its envelope):
        ``notification_metadata`` within ``record[1].smn.message`` is
        ``record[1].smn.message.notification_metadata``. A field already under ``at`` stays."""
        field = self.field or ""
        if not at or field == at or field.startswith((f"{at}.", f"{at}[")):
            return self
        field = f"{at}.{field}" if field else at
        moved = InputError(self.problem, field=field)
        moved.__cause__ = self.__cause__
        return moved

    @staticmethod
    def _bounded(text: str, limit: int) -> str:
        escaped = text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
        if len(text) > limit or len(escaped) > limit:
            return f"{escaped[:limit]}… ({len(text)} characters in all)"
        return escaped

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class PathIdError(InputError):
    """An id that would be placed in a URL path is not a plain identifier."""

    code = "invalid_id"


class NotImplementedYetError(ElbsyncError):
    """A function whose behaviour is not built yet: a clear reply instead of a crash."""

    code = "not_implemented"


class DeadlineExceededError(ElbsyncError):
    """The invocation's remaining time (minus the safety margin) is used up."""

    code = "deadline_exceeded"


class RemoteError(ElbsyncError):
    """A remote service could not be reached or answered with an error."""

    code = "remote_error"


class NoAnswerError(RemoteError):
    """No usable HTTP answer: connection refused or reset, timeout, broken reply.

    (httpx's own ``TransportError`` is wrapped into this where a request is sent.)
    ``may_have_applied`` is False only when the connection was never made, so the request
    cannot have reached the service."""

    code = "transport_error"

    def __init__(self, message: str, *, operation: str, may_have_applied: bool = True) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.may_have_applied = may_have_applied


class ApiError(RemoteError):
    """A Huawei Cloud API answered with an error status.

    Carries the HTTP status, Huawei's ``error_code`` / ``error_msg`` and the remote ``request_id``
    (from the body or the ``X-Request-Id`` header), whichever body style the service uses, and
    ``retry_after``: the wait in seconds the service advised (``Retry-After``), or None.
    """

    code = "api_error"

    def __init__(
        self,
        *,
        operation: str,
        status: int,
        error_code: str | None,
        error_msg: str | None,
        request_id: str | None,
        retry_after: float | None = None,
    ) -> None:
        detail = f"{error_code}: {error_msg}" if error_code else (error_msg or "no error body")
        super().__init__(f"{operation} failed with HTTP {status} ({detail})")
        self.operation = operation
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {
            **super().to_dict(),
            "status": self.status,
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "request_id": self.request_id,
        }


class BadRequestError(ApiError):
    code = "bad_request"


class AuthError(ApiError):
    code = "unauthorized"


class NotFoundError(ApiError):
    code = "not_found"


class ConflictError(ApiError):
    code = "conflict"


class BusyError(ConflictError):
    """409 ``ELB.8907``: the load balancer refuses writes while it is not ACTIVE."""

    code = "load_balancer_busy"


class QuotaError(ConflictError):
    """409 ``ELB.8905``: a quota (such as members per pool) is used up."""

    code = "quota_exceeded"


class ThrottledError(ApiError):
    """429, usually ``APIG.0308`` from the API gateway."""

    code = "throttled"


class ServerError(ApiError):
    code = "server_error"


def api_error_class(status: int, error_code: str | None) -> type[ApiError]:
    """The most specific :class:`ApiError` subclass for a status and Huawei error code."""
    if error_code == "ELB.8907" and status == 409:
        return BusyError
    if error_code == "ELB.8905":
        return QuotaError
    if status == 429:
        return ThrottledError
    if status >= 500:
        return ServerError
    by_status: dict[int, type[ApiError]] = {
        400: BadRequestError,
        401: AuthError,
        403: AuthError,
        404: NotFoundError,
        409: ConflictError,
    }
    return by_status.get(status, ApiError)


def is_transient(error: ElbsyncError) -> bool:
    """Whether a failure says nothing about the request itself, so the same request may
    succeed later: throttling, 5xx, a busy balancer, no usable answer, time running out, and
    401/403 (credentials or permissions, fixed by an operator, never a member's fault).

    A transient failure is never a decision: the work stays queued or is delivered again.
    """
    if isinstance(error, NoAnswerError | DeadlineExceededError | BusyError):
        return True
    if isinstance(error, ThrottledError | ServerError | AuthError):
        return True
    if isinstance(error, ApiError):
        return not 400 <= error.status < 500
    return isinstance(error, RemoteError)
