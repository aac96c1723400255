"""The one place where a handler's event becomes work and errors become a reply.

A handler in ``functions/<name>/index.py`` is one line: ``return run(NAME, event, context,
work)``, where ``work(invocation, event)`` returns the reply body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

import structlog

from elbsync.errors import ElbsyncError, NotImplementedYetError
from elbsync.inbound.limits import MAX_EVENT_CHARS, check_event
from elbsync.runtime.context import FunctionContext
from elbsync.runtime.invocation import Event, Invocation, Reply, Work
from elbsync.runtime.logs import bind_invocation, configure
from elbsync.runtime.wiring import WIRING

__all__ = ["correlation_id", "error_reply", "not_implemented", "printable_id", "run"]

_log = structlog.get_logger("elbsync.runtime")


#: Longest correlation id bound to the log lines; a producer's id is rarely over 64.
MAX_CORRELATION_ID_CHARS = 128
_ID_HEADERS = ("x-correlation-id", "idempotency-key", "x-request-id")


def correlation_id(event: object, fallback: str) -> str:
    """The id that ties this call to its cause: SMN message id, CloudEvent id or HTTP header.

    Read before the event is checked, so any event is tolerated: without a usable id it is
    ``fallback``, and an id is cut short and stripped of unprintable characters.
    """
    if isinstance(event, Mapping):
        for candidate in _id_candidates(event):
            usable = printable_id(candidate)
            if usable:
                return usable
    return fallback


def _id_candidates(event: Mapping[object, object]) -> Iterator[object]:
    """An envelope of several events has no one id: each event's work binds its own."""
    records = event.get("record")
    if isinstance(records, list) and len(records) == 1 and isinstance(records[0], Mapping):
        smn = records[0].get("smn")
        if isinstance(smn, Mapping):
            yield smn.get("message_id")
    events = event.get("events")
    if isinstance(events, list) and len(events) == 1 and isinstance(events[0], Mapping):
        yield events[0].get("id")
    if isinstance(event.get("specversion"), str):
        yield event.get("id")
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        yield from (headers.get(name) for name in _ID_HEADERS)


def printable_id(value: object) -> str | None:
    """``value`` as an id fit for a log line (bounded, printable), or ``None``."""
    if not isinstance(value, str):
        return None
    return "".join(c for c in value[:MAX_CORRELATION_ID_CHARS] if c.isprintable()) or None


def error_reply(error: ElbsyncError) -> Reply:
    return {"ok": False, "error": error.to_dict()}


def run(
    function_name: str,
    event: object,
    context: FunctionContext,
    work: Work,
    *,
    shape_error: Callable[[ElbsyncError], Reply] = error_reply,
    raise_to_retry: bool = False,
    max_event_chars: int = MAX_EVENT_CHARS,
) -> Reply:
    """Run ``work`` as one invocation of ``function_name``; errors become a reply here only.

    The event is held to :mod:`elbsync.inbound.limits` (a JSON object, bounded in depth and
    size, valid Unicode text, at most ``max_event_chars`` characters of text) before ``work``
    sees it: an event that is not is refused like any invalid input, before any call or store
    access. Errors elbsync raises on purpose are answered with ``shape_error``; anything else
    is a bug: it is logged (redacted) and re-raised so the platform records a failed
    invocation. With ``raise_to_retry`` (asynchronous triggers), an error that is not the
    caller's fault is re-raised after logging too, so the platform delivers the event again.
    """
    cold_start = WIRING.cold_start()
    started = time.monotonic()
    request_id = context.getRequestID()
    try:
        settings = WIRING.load_settings()
    except ElbsyncError as exc:
        configure()
        _log.error("invalid_configuration", error=exc.to_dict())
        return shape_error(exc)
    configure(fmt=settings.log_format, level=settings.log_level)
    bind_invocation(
        function_name=function_name,
        request_id=request_id,
        cold_start=cold_start,
        correlation_id=correlation_id(event, request_id),
    )
    invocation = WIRING.invocation(function_name, context, settings)
    outcome: Literal["ok", "error", "crash"] = "crash"
    try:
        reply = work(invocation, check_event(event, max_chars=max_event_chars))
        outcome = "ok"
        return reply
    except ElbsyncError as exc:
        outcome = "error"
        log = _log.warning if exc.client_error else _log.error
        log("invocation_failed", error=exc.to_dict())
        if raise_to_retry and not exc.client_error:
            raise
        return shape_error(exc)
    except Exception:
        _log.exception("invocation_crashed")
        raise
    finally:
        _log.info(
            "invocation_finished",
            outcome=outcome,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )


def not_implemented(invocation: Invocation, event: Event) -> Reply:
    """Placeholder work for a function whose behaviour is not built yet."""
    raise NotImplementedYetError(f"{invocation.function_name} is not implemented yet")
