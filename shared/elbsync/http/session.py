"""The shared HTTP setup every Huawei Cloud API call goes through.

One ``httpx.Client`` per process (created on first use and reused by warm invocations), and a
per-invocation :class:`ApiSession` that adds credentials, the deadline, bounded retries (through
the one deadline-bound send, :mod:`elbsync.http.send`), typed errors and the before/after log
lines of remote writes.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from elbsync.deadline import Deadline
from elbsync.errors import (
    ApiError,
    BusyError,
    ElbsyncError,
    NoAnswerError,
    PathIdError,
    ServerError,
    ThrottledError,
    api_error_class,
)
from elbsync.http.retry import RetryPolicy, Sleep
from elbsync.http.send import Replies, Request, retry_after, send

__all__ = [
    "USER_AGENT",
    "ApiSession",
    "QueryValue",
    "new_client",
    "path_id",
    "reply_list",
    "reply_model",
]

Method = Literal["GET", "POST", "PUT", "DELETE"]
QueryValue = str | int | bool | Sequence[str | int]
JsonObject = dict[str, object]
M = TypeVar("M", bound=BaseModel)

USER_AGENT = "elbsync/0.1 (+httpx)"

_log = structlog.get_logger("elbsync.http.session")

# Ids that reach a URL path: letters, digits, '-', '_' and '.', never '..' nor a separator.
_PATH_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")


def new_client(*, timeout: float = 10.0) -> httpx.Client:
    """A client for remote calls: elbsync's user agent, timeouts and connection pool. A
    function instance makes one and reuses it (:mod:`elbsync.runtime.wiring`), so the
    connection pool and TLS context are paid for once."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        headers={"User-Agent": USER_AGENT},
    )


def path_id(value: str, name: str) -> str:
    """Return ``value`` if it is safe as one URL path segment, else raise :class:`PathIdError`."""
    if not isinstance(value, str) or not _PATH_ID.match(value) or ".." in value:
        raise PathIdError(f"not a valid id: {value!r}", field=name)
    return value


def _error_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """(error_code, error_msg, request_id) from a v3 body or an older ``{"error": {...}}`` one."""
    if not isinstance(body, dict):
        return None, None, None
    request_id = body.get("request_id")
    nested = body.get("error")
    source = nested if isinstance(nested, dict) else body
    code = source.get("error_code", source.get("code"))
    message = source.get("error_msg", source.get("message"))
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        str(request_id) if request_id is not None else None,
    )


def api_error(response: httpx.Response, operation: str) -> ApiError:
    """The typed error for an unsuccessful ``response``."""
    try:
        body: object = response.json()
    except ValueError:
        body = None
    code, message, request_id = _error_fields(body)
    if message is None and response.content and body is None:
        message = response.text[:200]
    request_id = request_id or response.headers.get("X-Request-Id")
    cls = api_error_class(response.status_code, code)
    return cls(
        operation=operation,
        status=response.status_code,
        error_code=code,
        error_msg=message,
        request_id=request_id,
        retry_after=retry_after(response),
    )


class ApiSession:
    """Credentials, deadline and retry policy of one invocation over the shared client."""

    def __init__(
        self,
        *,
        auth: httpx.Auth,
        deadline: Deadline,
        client: httpx.Client,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.auth = auth
        self.deadline = deadline
        self.client = client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng

    def call(
        self,
        method: Method,
        url: str,
        *,
        operation: str,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Mapping[str, object] | None = None,
        expect: Sequence[int] = (200,),
        retry_busy: bool = True,
    ) -> JsonObject:
        """Send one API request with retries; return the decoded JSON object (``{}`` if none).

        Retried: connection errors, 429, 5xx, and 409 ``ELB.8907`` (load balancer busy) for
        writes unless ``retry_busy`` is off (the write path paces itself instead). Never
        retried: any other 4xx. No attempt starts once the deadline has passed.
        """
        write = method != "GET"
        if write:
            _log.info("remote_write_started", operation=operation)

        def should_retry(exc: Exception) -> bool:
            return isinstance(exc, NoAnswerError | ThrottledError | ServerError) or (
                write and retry_busy and isinstance(exc, BusyError)
            )

        def on_retry(exc: Exception, number: int, wait: float) -> None:
            _log.warning(
                "remote_call_retrying",
                operation=operation,
                retry=number,
                wait_s=round(wait, 3),
                reason=exc.code if isinstance(exc, ElbsyncError) else type(exc).__name__,
                remote_request_id=exc.request_id if isinstance(exc, ApiError) else None,
            )

        try:
            response = send(
                self.client,
                _request(method, url, operation, params, json_body),
                auth=self.auth,
                deadline=self.deadline,
                replies=_replies(operation, expect),
                policy=self.policy,
                should_retry=should_retry,
                on_retry=on_retry,
                sleep=self._sleep,
                rng=self._rng,
            )
        except ApiError as failure:
            if write:
                _log.warning(
                    "remote_write_failed",
                    operation=operation,
                    status=failure.status,
                    error_code=failure.error_code,
                    remote_request_id=failure.request_id,
                )
            raise
        body = _json_object(response, operation)
        if write:
            _log.info(
                "remote_write_finished",
                operation=operation,
                status=response.status_code,
                remote_request_id=body.get("request_id") or response.headers.get("X-Request-Id"),
            )
        return body


def _request(
    method: Method,
    url: str,
    operation: str,
    params: Mapping[str, QueryValue] | None,
    json_body: Mapping[str, object] | None,
) -> Request:
    content = None if json_body is None else json.dumps(json_body, separators=(",", ":"))
    headers = {"Accept": "application/json"}
    if content is not None:
        headers["Content-Type"] = "application/json;charset=UTF-8"
    return Request(
        method, url, doing=operation, params=_query(params), content=content, headers=headers
    )


def _replies(operation: str, expect: Sequence[int]) -> Replies:
    def unanswered(exc: httpx.TransportError, sent: bool) -> NoAnswerError:
        return NoAnswerError(
            f"{type(exc).__name__}: {exc}", operation=operation, may_have_applied=sent
        )

    return Replies(
        answered=lambda response: response.status_code in expect,
        refused=lambda response: api_error(response, operation),
        unanswered=unanswered,
    )


def _query(params: Mapping[str, QueryValue] | None) -> httpx.QueryParams | None:
    if not params:
        return None
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            pairs.append((key, text))
    return httpx.QueryParams(pairs)


def reply_model(model: type[M], data: object, operation: str) -> M:
    """Read one object of a reply as ``model``; a shape we do not know is a transport error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise NoAnswerError(
            f"unexpected reply shape at {where or '(reply)'}: {problem['msg']}", operation=operation
        ) from exc


def reply_list(body: JsonObject, key: str, model: type[M], operation: str) -> list[M]:
    """Read the list under ``key`` of a reply, each item as ``model``."""
    items = body.get(key, [])
    if not isinstance(items, list):
        raise NoAnswerError(f"reply has no {key} list", operation=operation)
    return [reply_model(model, item, operation) for item in items]


def _json_object(response: httpx.Response, operation: str) -> JsonObject:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError as exc:
        raise NoAnswerError("reply is not JSON", operation=operation) from exc
    if not isinstance(body, dict):
        raise NoAnswerError("reply is not a JSON object", operation=operation)
    return body
