"""What every handler shares: settings, logging, deadline, clients, and the one place where
errors become a reply.

A handler in ``functions/<name>/index.py`` is one line: ``return run(NAME, event, context,
work)``, where ``work(invocation, event)`` returns the reply body.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import structlog

from elbsync.deadline import Deadline
from elbsync.errors import ElbsyncError, NotImplementedYetError
from elbsync.http.retry import RetryPolicy
from elbsync.http.session import ApiSession, shared_client
from elbsync.inbound.limits import MAX_EVENT_CHARS, check_event
from elbsync.runtime.context import FunctionContext
from elbsync.runtime.credentials import Credentials
from elbsync.runtime.logs import bind_invocation, configure
from elbsync.settings import Settings

if TYPE_CHECKING:
    from elbsync.clients.autoscaling import AutoScalingClient
    from elbsync.clients.ecs import EcsClient
    from elbsync.clients.elb import ElbClient
    from elbsync.state.store import ObjectStore

Event = Mapping[str, object]
Reply = dict[str, object]
Work = Callable[["Invocation", Event], Reply]

_log = structlog.get_logger("elbsync.runtime")
_warm = False


def now() -> datetime:
    """The time every invocation works with (see :func:`use_clock`)."""
    return _clock()


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _wall_clock


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Let invocations in this process run on another clock, e.g. the emulator's virtual one."""
    global _clock
    _clock = clock or _wall_clock


_settings_override: Settings | None = None


@functools.cache
def load_settings() -> Settings:
    """Settings of this function instance, read once (``cache_clear()`` re-reads them)."""
    return _settings_override or Settings.from_env()


def use_settings(settings: Settings | None) -> None:
    """Run the functions in this process with ``settings`` instead of the environment's
    (the local developer kit embeds them this way); ``None`` goes back to the environment."""
    global _settings_override
    _settings_override = settings
    load_settings.cache_clear()


StoreFactory = Callable[[Deadline], "ObjectStore"]
_store_factory: StoreFactory | None = None


def use_store(factory: StoreFactory | None) -> None:
    """Let invocations in this process keep their state in the store ``factory`` returns for
    their deadline (a test's counting or faulty store, say) instead of ``ELBSYNC_STATE_URL``;
    ``None`` goes back to the setting."""
    global _store_factory
    _store_factory = factory


@dataclass
class Invocation:
    """One handler call: its settings, deadline, credentials and lazily built API clients."""

    function_name: str
    request_id: str
    settings: Settings
    deadline: Deadline
    context: FunctionContext | None
    clock: Callable[[], datetime] = field(default=lambda: now())
    _session: ApiSession | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)
    _store: ObjectStore | None = field(default=None, repr=False)

    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.resolve(self.context, self.settings)
        return self._credentials

    def session(self) -> ApiSession:
        if self._session is None:
            self._session = ApiSession(
                auth=self.credentials().api_auth(self.settings.project_id),
                deadline=self.deadline,
                client=shared_client(timeout=self.settings.http_timeout),
                policy=RetryPolicy(max_attempts=self.settings.max_attempts),
            )
        return self._session

    def store(self) -> ObjectStore:
        """The state store named by ``ELBSYNC_STATE_URL``, bound to this invocation's deadline."""
        if self._store is None and _store_factory is not None:
            self._store = _store_factory(self.deadline)
        if self._store is None:
            from elbsync.state.factory import open_store

            credentials = self.credentials()
            self._store = open_store(
                self.settings,
                deadline=self.deadline,
                client=shared_client(timeout=self.settings.http_timeout),
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                security_token=credentials.security_token,
            )
        return self._store

    def elb(self) -> ElbClient:
        from elbsync.clients.elb import ElbClient

        return ElbClient(
            self.session(),
            endpoint=self.settings.endpoint("elb"),
            project_id=self.settings.require_project_id(),
        )

    def autoscaling(self) -> AutoScalingClient:
        from elbsync.clients.autoscaling import AutoScalingClient

        return AutoScalingClient(
            self.session(),
            endpoint=self.settings.endpoint("as"),
            project_id=self.settings.require_project_id(),
        )

    def ecs(self) -> EcsClient:
        from elbsync.clients.ecs import EcsClient

        return EcsClient(
            self.session(),
            endpoint=self.settings.endpoint("ecs"),
            project_id=self.settings.require_project_id(),
        )


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
    global _warm
    cold_start, _warm = not _warm, True
    started = time.monotonic()
    request_id = context.getRequestID()
    try:
        settings = load_settings()
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
    invocation = Invocation(
        function_name=function_name,
        request_id=request_id,
        settings=settings,
        deadline=Deadline.from_remaining_ms(
            context.getRemainingTimeInMilliSeconds(), margin_ms=settings.deadline_margin_ms
        ),
        context=context,
    )
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
