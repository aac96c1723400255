"""Errors of the state store, all under :class:`elbsync.errors.ElbsyncError`.

Store failures (the object store could not be reached, refused us, or left a write's outcome
unknown) are also :class:`elbsync.errors.RemoteError`, so a handler that treats every remote
failure alike needs no special case for state.
"""

from __future__ import annotations

from typing import ClassVar

from elbsync.errors import ElbsyncError, RemoteError

__all__ = [
    "CorruptRecordError",
    "EventInProgressError",
    "IdempotencyKeyReusedError",
    "InvalidKeyError",
    "KeyExistsError",
    "StateError",
    "StoreAccessDeniedError",
    "StoreError",
    "StoreUnavailableError",
    "TransitionRefusedError",
    "WriteOutcomeUnknownError",
]


class StateError(ElbsyncError):
    """Root of every error raised by :mod:`elbsync.state`."""

    code: ClassVar[str] = "state_error"


class StoreError(StateError, RemoteError):
    """The object store failed an operation (after any retries).

    ``may_have_applied`` is True when a write failed after it may have reached the store (a
    reply lost to a timeout or a reset, a 500/502/504): the store then reads the key back
    instead of sending the write again. False for a refusal, and for a request that cannot have
    taken effect (the connection was never made, or the store answered 503/429).
    """

    code: ClassVar[str] = "state_store_error"

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        key: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        may_have_applied: bool = False,
    ) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.key = key
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.may_have_applied = may_have_applied

    def to_dict(self) -> dict[str, object]:
        return {
            **super().to_dict(),
            "operation": self.operation,
            "key": self.key,
            "status": self.status,
            "error_code": self.error_code,
            "request_id": self.request_id,
        }


class StoreUnavailableError(StoreError):
    """No usable answer: connection errors, timeouts, 5xx or throttling outlasted the retries."""

    code: ClassVar[str] = "state_store_unavailable"


class StoreAccessDeniedError(StoreError):
    """401/403: wrong key or secret, bad signature, expired token, or missing permission."""

    code: ClassVar[str] = "state_store_access_denied"


class WriteOutcomeUnknownError(StoreError):
    """A write's reply was lost and reading back did not show our bytes.

    ``current`` is what the store holds now (``None`` when the key is absent). The caller, who
    knows what the record means, decides whether writing again is right; the store never
    writes a second time blindly.
    """

    code: ClassVar[str] = "state_write_outcome_unknown"

    def __init__(self, message: str, *, operation: str, key: str, current: object) -> None:
        super().__init__(message, operation=operation, key=key)
        self.current = current


class KeyExistsError(StateError):
    """A create-if-absent found the key already taken."""

    code: ClassVar[str] = "state_key_exists"

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} already exists")
        self.key = key


class InvalidKeyError(StateError):
    """A key or prefix outside the store's safe alphabet (``A-Z a-z 0-9 . _ -`` and ``/``)."""

    code: ClassVar[str] = "state_invalid_key"


class CorruptRecordError(StateError):
    """A stored object is not a valid record of the expected kind and schema."""

    code: ClassVar[str] = "state_record_corrupt"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


class TransitionRefusedError(StateError):
    """A write would move a record backwards, or is based on a stale copy of it."""

    code: ClassVar[str] = "state_transition_refused"

    def __init__(self, record_id: str, *, current: str, requested: str, reason: str) -> None:
        super().__init__(f"{record_id}: {reason} ({current} -> {requested})")
        self.record_id = record_id
        self.current = current
        self.requested = requested


class IdempotencyKeyReusedError(StateError):
    """The same event id arrived with a different payload: a caller bug, never replayed."""

    code: ClassVar[str] = "idempotency_key_reused"
    client_error: ClassVar[bool] = True

    def __init__(self, event_id: str) -> None:
        super().__init__(
            f"event id {event_id!r} was already used for a different payload; "
            "send a new id for a new request"
        )
        self.event_id = event_id


class EventInProgressError(StateError):
    """Another invocation is handling the same event right now; retry after it expires."""

    code: ClassVar[str] = "event_in_progress"

    def __init__(self, event_id: str, *, retry_after_s: float) -> None:
        super().__init__(
            f"event id {event_id!r} is being handled by another invocation "
            f"(retry in {retry_after_s:.0f} s)"
        )
        self.event_id = event_id
        self.retry_after_s = retry_after_s
