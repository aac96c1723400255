"""One deadline-bound HTTP send, used by every remote call elbsync makes.

:func:`send_once` is one attempt at a :class:`Request`:

- no attempt starts once the deadline has passed (:class:`~elbsync.errors.DeadlineExceededError`);
- its timeout is what the deadline has left, capped by the client's own read timeout (30 s when
  the client has none); connecting takes at most 5 s;
- an ``httpx.TransportError`` becomes the caller's typed error, told whether the request may
  have reached the service (a connection never made cannot have done anything);
- a reply that is no answer (the caller decides which are) becomes the caller's typed error.

:func:`send` retries :func:`send_once` (:func:`~elbsync.http.retry.call_with_retry`: full
jitter, never past the deadline) as the caller's ``should_retry`` decides from the typed error,
and waits at least the ``retry_after`` a service advised. The API session sends with it. The
state store sends with :func:`send_once` and retries each operation itself, because a write
whose reply was lost is settled by reading the key back between attempts
(:mod:`elbsync.state.store`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from elbsync.deadline import Deadline
from elbsync.errors import ApiError, RemoteError
from elbsync.http.retry import RetryPolicy, Sleep, call_with_retry

__all__ = ["Replies", "Request", "retry_after", "send", "send_once"]

CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0
# The connection was never made: the request cannot have reached the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Request:
    """What to send, and what it does in words (``elb.batch_add``, ``put v1/x.json``)."""

    method: str
    url: str
    doing: str
    params: httpx.QueryParams | None = None
    content: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Replies:
    """How a caller reads what came back, in its own error types."""

    #: Whether a reply is an answer (returned to the caller) rather than a failure.
    answered: Callable[[httpx.Response], bool]
    #: The typed error of a reply that is no answer.
    refused: Callable[[httpx.Response], RemoteError]
    #: The typed error when no usable reply came; the flag says whether the request may have
    #: reached the service (False when the connection was never made).
    unanswered: Callable[[httpx.TransportError, bool], RemoteError]


def retry_after(response: httpx.Response) -> float | None:
    """The wait a reply advises (``Retry-After`` in whole seconds), if it gives one."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _timeout(client: httpx.Client, deadline: Deadline) -> httpx.Timeout:
    remaining = deadline.remaining()
    configured = client.timeout.read
    read = min(remaining, configured if configured is not None else DEFAULT_READ_TIMEOUT_S)
    return httpx.Timeout(read, connect=min(remaining, CONNECT_TIMEOUT_S))


def send_once(
    client: httpx.Client,
    request: Request,
    *,
    auth: httpx.Auth,
    deadline: Deadline,
    replies: Replies,
) -> httpx.Response:
    """One attempt: the answer, or the caller's typed error (see the module docstring)."""
    deadline.check(request.doing)
    try:
        built = client.build_request(
            request.method,
            request.url,
            params=request.params,
            content=request.content,
            headers=dict(request.headers),
            timeout=_timeout(client, deadline),
        )
        response = client.send(built, auth=auth)
    except httpx.TransportError as exc:
        raise replies.unanswered(exc, not isinstance(exc, _NOT_SENT)) from exc
    if replies.answered(response):
        return response
    raise replies.refused(response)


def _advised_wait(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, ApiError) else None


def send(
    client: httpx.Client,
    request: Request,
    *,
    auth: httpx.Auth,
    deadline: Deadline,
    replies: Replies,
    policy: RetryPolicy,
    should_retry: Callable[[Exception], bool],
    on_retry: Callable[[Exception, int, float], None] = lambda exc, number, wait: None,
    sleep: Sleep = time.sleep,
    rng: Callable[[], float] = random.random,
) -> httpx.Response:
    """:func:`send_once` until it answers, fails for good, or time or attempts run out."""
    return call_with_retry(
        lambda: send_once(client, request, auth=auth, deadline=deadline, replies=replies),
        should_retry=should_retry,
        deadline=deadline,
        policy=policy,
        sleep=sleep,
        rng=rng,
        retry_after=_advised_wait,
        on_retry=on_retry,
    )
