"""What the S3 and OBS backends share: one bucket spoken to in the S3 REST dialect over httpx.

The base class owns the behaviour (deadlines, retries, typed errors, resolving lost replies);
:class:`~elbsync.state.s3.S3Store` and :class:`~elbsync.state.obs.ObsStore` fill in the few
places where the two services differ: addressing, listing and create-if-absent.

Retries (full jitter, never past the deadline, :mod:`elbsync.http.retry`):
- reads are retried on connection errors, timeouts, 5xx and throttling;
- writes are re-sent only when the request cannot have taken effect: the connection was never
  made, or the store answered 503/429 (S3 and OBS reject such requests before doing anything);
- any other failure of a write (a timeout after sending, a reset, 500/502/504) may or may not
  have applied it: the object is read back, and the write is treated as done if our bytes are
  there. Otherwise the write is not blindly repeated; see each operation.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import xml.etree.ElementTree as ElementTree
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import quote

import httpx
import structlog

from elbsync.deadline import Deadline
from elbsync.http.retry import RetryPolicy, Sleep, call_with_retry
from elbsync.state.errors import (
    KeyExistsError,
    StoreAccessDeniedError,
    StoreError,
    StoreUnavailableError,
    WriteOutcomeUnknownError,
)
from elbsync.state.store import (
    MAX_PAGE_SIZE,
    ListedObject,
    ListPage,
    ObjectStore,
    StoredObject,
    check_key,
    check_prefix,
)

Method = Literal["GET", "HEAD", "PUT", "POST", "DELETE"]
Addressing = Literal["path", "virtual"]

_log = structlog.get_logger("elbsync.state")

CONTENT_TYPE = "application/json"
# Connection never made: the request did not reach the store, so sending it again is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Answers that S3 and OBS give before acting on a request.
_REJECTED_UNTOUCHED = frozenset({429, 503})
_SERVER_ERRORS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class ErrorReply:
    """The parts of an S3-style error reply worth reporting."""

    status: int
    code: str | None
    message: str | None
    request_id: str | None


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth another attempt."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


class _Ambiguous(Exception):
    """Internal: a write failed after it may have reached the store."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


def content_md5(data: bytes) -> str:
    """The ``Content-MD5`` header value (base64 of the binary digest)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(body: bytes) -> ElementTree.Element:
    # The body comes from the store we were configured to trust; Python's expat refuses
    # external entities, and the replies are small.
    return ElementTree.fromstring(body)  # noqa: S314


def child_text(element: ElementTree.Element, name: str) -> str | None:
    """The text of the first direct child called ``name``, whatever its XML namespace."""
    for child in element:
        if _local_name(child.tag) == name:
            return child.text or ""
    return None


def children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if _local_name(child.tag) == name]


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def listed_objects(root: ElementTree.Element, strip: str) -> tuple[ListedObject, ...]:
    """The ``<Contents>`` of a ListObjects reply, keys made relative by removing ``strip``."""
    found: list[ListedObject] = []
    for item in children(root, "Contents"):
        key = child_text(item, "Key") or ""
        if not key.startswith(strip):
            continue
        found.append(
            ListedObject(
                key=key[len(strip) :],
                etag=(child_text(item, "ETag") or "").strip('"'),
                size=int(child_text(item, "Size") or 0),
                last_modified=parse_time(
                    child_text(item, "LastModified") or "1970-01-01T00:00:00Z"
                ),
            )
        )
    return tuple(found)


class BucketStore(ObjectStore):
    """One bucket (and a key prefix inside it) of an S3-dialect object store."""

    #: Header carrying the remote request id (``x-amz-request-id`` / ``x-obs-request-id``).
    request_id_header: str = "x-amz-request-id"
    scheme: str = "s3"

    def __init__(
        self,
        *,
        client: httpx.Client,
        endpoint: str,
        bucket: str,
        prefix: str,
        auth: httpx.Auth,
        deadline: Deadline,
        addressing: Addressing,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(deadline=deadline)
        self.client = client
        self.endpoint = httpx.URL(endpoint.rstrip("/"))
        self.bucket = bucket
        self.prefix = check_prefix(f"{prefix.strip('/')}/" if prefix.strip("/") else "")
        self.auth = auth
        self.addressing: Addressing = addressing
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self.url = f"{self.scheme}://{bucket}/{self.prefix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url} at {self.endpoint})"

    # -- addressing --------------------------------------------------------------------------

    def _base_url(self) -> str:
        if self.addressing == "virtual":
            host = f"{self.bucket}.{self.endpoint.host}"
            port = f":{self.endpoint.port}" if self.endpoint.port else ""
            return f"{self.endpoint.scheme}://{host}{port}/"
        return f"{self.endpoint}/{self.bucket}/"

    def object_url(self, key: str) -> str:
        """The URL of ``key``, encoded as it is signed (only ``/`` and ``~`` left as they are)."""
        return self._base_url() + quote(self.prefix + check_key(key), safe="/~")

    def bucket_url(self) -> str:
        return self._base_url()

    # -- hooks the backends fill in -----------------------------------------------------------

    @abstractmethod
    def _list_query(self, prefix: str, marker: str | None, limit: int) -> str:
        """The raw query string of one ListObjects request (``prefix`` includes ours)."""

    @abstractmethod
    def _next_marker(self, root: ElementTree.Element, page: tuple[ListedObject, ...]) -> str | None:
        """Where the next page starts, or ``None`` on the last page."""

    @abstractmethod
    def _create_request(self, key: str, data: bytes) -> tuple[Method, str, dict[str, str]]:
        """Method, URL and extra headers of a create-if-absent request."""

    @abstractmethod
    def _means_exists(self, response: httpx.Response, reply: ErrorReply) -> bool:
        """Whether a failed create-if-absent says the key is taken."""

    # -- the wire -----------------------------------------------------------------------------

    def _error_reply(self, response: httpx.Response) -> ErrorReply:
        code = message = request_id = None
        if response.content and b"<" in response.content[:64]:
            try:
                root = parse_xml(response.content)
            except ElementTree.ParseError:
                root = None
            if root is not None:
                code = child_text(root, "Code")
                message = child_text(root, "Message")
                request_id = child_text(root, "RequestId")
        # HEAD replies have no body; OBS names the error in a header.
        code = code or response.headers.get("x-obs-error-code")
        request_id = request_id or response.headers.get(self.request_id_header)
        return ErrorReply(response.status_code, code, message, request_id)

    def _store_error(self, response: httpx.Response, operation: str, key: str | None) -> StoreError:
        reply = self._error_reply(response)
        detail = f"HTTP {reply.status}" + (f" {reply.code}" if reply.code else "")
        if reply.message:
            detail += f": {reply.message}"
        cls: type[StoreError] = StoreError
        if reply.status in (401, 403):
            cls = StoreAccessDeniedError
        elif reply.status in _SERVER_ERRORS or reply.status == 429:
            cls = StoreUnavailableError
        return cls(
            detail,
            operation=operation,
            key=key,
            status=reply.status,
            error_code=reply.code,
            request_id=reply.request_id,
        )

    def _send(
        self,
        method: Method,
        url: str,
        *,
        operation: str,
        key: str | None,
        deadline: Deadline,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        accept: Callable[[httpx.Response], bool] = lambda response: False,
    ) -> httpx.Response:
        """One attempt. Raise ``_Retryable``/``_Ambiguous``/``StoreError`` on failure.

        ``accept`` lets a caller take a non-``ok`` status as an answer (a 404 on GET, a 412 on
        create) instead of an error.
        """
        deadline.check(f"{operation} {key or ''}".strip())
        write = method in ("PUT", "POST", "DELETE")
        remaining = deadline.remaining()
        configured = self.client.timeout.read
        read = min(remaining, configured if configured is not None else 30.0)
        timeout = httpx.Timeout(read, connect=min(remaining, 5.0))
        request_headers = dict(headers or {})
        if content is not None:
            request_headers.setdefault("Content-Type", CONTENT_TYPE)
            request_headers["Content-MD5"] = content_md5(content)
        try:
            request = self.client.build_request(
                method, url, content=content, headers=request_headers, timeout=timeout
            )
            response = self.client.send(request, auth=self.auth)
        except httpx.TransportError as exc:
            unreachable = StoreUnavailableError(
                f"{type(exc).__name__}: {exc}", operation=operation, key=key
            )
            if not write or isinstance(exc, _NOT_SENT):
                raise _Retryable(unreachable) from exc
            raise _Ambiguous(unreachable) from exc
        if response.status_code in ok or accept(response):
            return response
        error = self._store_error(response, operation, key)
        status = response.status_code
        if status in _REJECTED_UNTOUCHED or (not write and status in _SERVER_ERRORS):
            raise _Retryable(error)
        if write and status in _SERVER_ERRORS:
            raise _Ambiguous(error)
        raise error

    def _with_retries(
        self,
        attempt: Callable[[], httpx.Response],
        *,
        operation: str,
        key: str | None,
        deadline: Deadline,
    ) -> httpx.Response:
        def on_retry(exc: Exception, number: int, wait: float) -> None:
            _log.warning(
                "state_call_retrying",
                operation=operation,
                key=key,
                retry=number,
                wait_s=wait,
            )

        try:
            return call_with_retry(
                attempt,
                should_retry=lambda exc: isinstance(exc, _Retryable),
                deadline=deadline,
                policy=self.policy,
                sleep=self._sleep,
                rng=self._rng,
                on_retry=on_retry,
            )
        except _Retryable as exhausted:
            raise exhausted.error from exhausted

    def _no_such_key(self, response: httpx.Response) -> bool:
        """A 404 about the key (an answer), not about the bucket (a misconfiguration)."""
        return response.status_code == 404 and self._error_reply(response).code != "NoSuchBucket"

    # -- operations ---------------------------------------------------------------------------

    def get(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None:
        bound = self._deadline(deadline)
        url = self.object_url(key)

        def attempt() -> httpx.Response:
            return self._send(
                "GET",
                url,
                operation="get",
                key=key,
                deadline=bound,
                accept=self._no_such_key,
            )

        response = self._with_retries(attempt, operation="get", key=key, deadline=bound)
        if response.status_code == 404:
            return None
        etag = response.headers.get("ETag", "").strip('"')
        return StoredObject(key=key, data=response.content, etag=etag or _md5_hex(response.content))

    def put(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        bound = self._deadline(deadline)
        url = self.object_url(key)
        _log.info("state_write_started", operation="put", key=key)

        def attempt() -> httpx.Response:
            return self._send("PUT", url, operation="put", key=key, deadline=bound, content=data)

        try:
            response = self._with_retries(attempt, operation="put", key=key, deadline=bound)
        except _Ambiguous as lost:
            current = self._read_back(key, lost, bound)
            if current is not None and current.data == data:
                _log.info("state_write_confirmed", operation="put", key=key)
                return current.etag
            raise WriteOutcomeUnknownError(
                "the reply was lost and the object does not hold our bytes",
                operation="put",
                key=key,
                current=current,
            ) from lost
        _log.info("state_write_finished", operation="put", key=key)
        return _etag(response, data)

    def create(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        bound = self._deadline(deadline)
        method, url, headers = self._create_request(key, data)
        _log.info("state_write_started", operation="create", key=key)

        def exists(response: httpx.Response) -> bool:
            return self._means_exists(response, self._error_reply(response))

        def attempt() -> httpx.Response:
            try:
                response = self._send(
                    method,
                    url,
                    operation="create",
                    key=key,
                    deadline=bound,
                    content=data,
                    headers=headers,
                    ok=(200, 201),
                    accept=exists,
                )
            except _Ambiguous as lost:
                # Reading back settles it: our bytes mean we made it; other bytes mean the key
                # was taken; nothing means the create did not happen, and re-sending a
                # conditional create can never overwrite anything.
                current = self._read_back(key, lost, bound)
                if current is None:
                    raise _Retryable(lost.error) from lost
                if current.data != data:
                    raise KeyExistsError(key) from lost
                return httpx.Response(200, headers={"ETag": current.etag})
            if response.status_code not in (200, 201):
                raise KeyExistsError(key)
            return response

        response = self._with_retries(attempt, operation="create", key=key, deadline=bound)
        _log.info("state_write_finished", operation="create", key=key)
        return _etag(response, data)

    def delete(
        self, key: str, *, deadline: Deadline | None = None, expected_etag: str | None = None
    ) -> None:
        bound = self._deadline(deadline)
        url = self.object_url(key)
        _log.info("state_write_started", operation="delete", key=key)

        def attempt() -> httpx.Response:
            try:
                return self._send(
                    "DELETE",
                    url,
                    operation="delete",
                    key=key,
                    deadline=bound,
                    ok=(200, 204),
                    accept=self._no_such_key,
                )
            except _Ambiguous as lost:
                current = self._read_back(key, lost, bound)
                if current is None:
                    return httpx.Response(204)
                if expected_etag is None or current.etag == expected_etag:
                    raise _Retryable(lost.error) from lost
                raise WriteOutcomeUnknownError(
                    "the reply was lost and the key now holds another version",
                    operation="delete",
                    key=key,
                    current=current,
                ) from lost

        self._with_retries(attempt, operation="delete", key=key, deadline=bound)
        _log.info("state_write_finished", operation="delete", key=key)

    def _read_back(self, key: str, lost: _Ambiguous, deadline: Deadline) -> StoredObject | None:
        _log.warning(
            "state_write_reply_lost",
            key=key,
            reason=lost.error.message,
            status=lost.error.status,
        )
        return self.get(key, deadline=deadline)

    def list_page(
        self,
        prefix: str,
        *,
        marker: str | None = None,
        limit: int = MAX_PAGE_SIZE,
        deadline: Deadline | None = None,
    ) -> ListPage:
        bound = self._deadline(deadline)
        check_prefix(prefix)
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        url = f"{self.bucket_url()}?{self._list_query(self.prefix + prefix, marker, limit)}"

        def attempt() -> httpx.Response:
            return self._send("GET", url, operation="list", key=prefix, deadline=bound)

        response = self._with_retries(attempt, operation="list", key=prefix, deadline=bound)
        try:
            root = parse_xml(response.content)
        except ElementTree.ParseError as exc:
            raise StoreError("ListObjects reply is not XML", operation="list", key=prefix) from exc
        objects = listed_objects(root, self.prefix)
        return ListPage(objects, next_marker=self._next_marker(root, objects))


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _etag(response: httpx.Response, data: bytes) -> str:
    return response.headers.get("ETag", "").strip('"') or _md5_hex(data)


def is_truncated(root: ElementTree.Element) -> bool:
    return (child_text(root, "IsTruncated") or "").strip().lower() == "true"
