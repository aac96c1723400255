"""What the S3 and OBS backends share: one bucket spoken to in the S3 REST dialect over httpx.

:class:`BucketStore` fills in the hooks of :class:`~elbsync.state.store.ObjectStore` (which
owns the behaviour: key checks, deadlines, retries, write logging, settling lost replies) with
one request each, sent through the deadline-bound send (:func:`elbsync.http.send.send_once`).
:class:`~elbsync.state.s3.S3Store` and :class:`~elbsync.state.obs.ObsStore` fill in the few
places where the two services differ: addressing, listing and create-if-absent.

Here a failure becomes a typed :class:`~elbsync.state.errors.StoreError` that says what the base
needs to decide:
- connection errors, timeouts, 5xx and 429 are :class:`~elbsync.state.errors.StoreUnavailableError`
  (transient: a read is retried);
- a write may have taken effect (``may_have_applied``) unless the connection was never made or
  the store answered 503/429 (S3 and OBS reject such requests before doing anything): a write
  that cannot have taken effect is sent again, any other is settled by reading back;
- 401/403 are :class:`~elbsync.state.errors.StoreAccessDeniedError`, other refusals a plain
  :class:`~elbsync.state.errors.StoreError`; neither is retried.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import xml.etree.ElementTree as ElementTree
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import quote

import httpx

from elbsync.deadline import Deadline
from elbsync.http.retry import RetryPolicy, Sleep
from elbsync.http.send import Replies, Request, send_once
from elbsync.state.errors import (
    KeyExistsError,
    StoreAccessDeniedError,
    StoreError,
    StoreUnavailableError,
)
from elbsync.state.store import (
    ListedObject,
    ListPage,
    ObjectStore,
    StoredObject,
    check_key,
    check_prefix,
    content_etag,
)

__all__ = ["BucketStore", "ErrorReply", "Method", "child_text"]

Method = Literal["GET", "HEAD", "PUT", "POST", "DELETE"]
Addressing = Literal["path", "virtual"]

CONTENT_TYPE = "application/json"
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


class BucketStore(ObjectStore, ABC):
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
        super().__init__(deadline=deadline, policy=policy, sleep=sleep, rng=rng)
        self.client = client
        self.endpoint = httpx.URL(endpoint.rstrip("/"))
        self.bucket = bucket
        self.prefix = check_prefix(f"{prefix.strip('/')}/" if prefix.strip("/") else "")
        self.auth = auth
        self.addressing: Addressing = addressing
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

    # -- what S3 and OBS do differently ---------------------------------------------------------

    @abstractmethod
    def _list_params(self, prefix: str, marker: str | None, limit: int) -> list[tuple[str, str]]:
        """The query of one ListObjects request, in order (``prefix`` includes ours)."""

    @abstractmethod
    def _next_marker(self, root: ElementTree.Element, page: tuple[ListedObject, ...]) -> str | None:
        """Where the next page of a truncated listing starts."""

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
            may_have_applied=reply.status in _SERVER_ERRORS - _REJECTED_UNTOUCHED,
        )

    def _exchange(
        self,
        method: Method,
        url: str,
        *,
        operation: str,
        key: str,
        deadline: Deadline,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        accept: Callable[[httpx.Response], bool] = lambda response: False,
    ) -> httpx.Response:
        """One attempt through the deadline-bound send; a failure is a typed ``StoreError``.

        ``accept`` lets a caller take a non-``ok`` status as an answer (a 404 on GET, a 412 on
        create) instead of an error.
        """
        request_headers = dict(headers or {})
        if content is not None:
            request_headers.setdefault("Content-Type", CONTENT_TYPE)
            request_headers["Content-MD5"] = content_md5(content)

        def unanswered(exc: httpx.TransportError, sent: bool) -> StoreError:
            return StoreUnavailableError(
                f"{type(exc).__name__}: {exc}",
                operation=operation,
                key=key,
                may_have_applied=sent,
            )

        return send_once(
            self.client,
            Request(
                method,
                url,
                doing=f"{operation} {key}".strip(),
                content=content,
                headers=request_headers,
            ),
            auth=self.auth,
            deadline=deadline,
            replies=Replies(
                answered=lambda response: response.status_code in ok or accept(response),
                refused=lambda response: self._store_error(response, operation, key),
                unanswered=unanswered,
            ),
        )

    def _no_such_key(self, response: httpx.Response) -> bool:
        """A 404 about the key (an answer), not about the bucket (a misconfiguration)."""
        return response.status_code == 404 and self._error_reply(response).code != "NoSuchBucket"

    def _taken(self, response: httpx.Response) -> bool:
        return self._means_exists(response, self._error_reply(response))

    # -- the store's hooks ----------------------------------------------------------------------

    def _read(self, key: str, deadline: Deadline) -> StoredObject | None:
        response = self._exchange(
            "GET",
            self.object_url(key),
            operation="get",
            key=key,
            deadline=deadline,
            accept=self._no_such_key,
        )
        if response.status_code == 404:
            return None
        return StoredObject(key=key, data=response.content, etag=_etag(response, response.content))

    def _write(self, key: str, data: bytes, deadline: Deadline) -> str:
        response = self._exchange(
            "PUT", self.object_url(key), operation="put", key=key, deadline=deadline, content=data
        )
        return _etag(response, data)

    def _create_if_absent(self, key: str, data: bytes, deadline: Deadline) -> str:
        method, url, headers = self._create_request(key, data)
        response = self._exchange(
            method,
            url,
            operation="create",
            key=key,
            deadline=deadline,
            content=data,
            headers=headers,
            ok=(200, 201),
            accept=self._taken,
        )
        if response.status_code not in (200, 201):
            raise KeyExistsError(key)
        return _etag(response, data)

    def _remove(self, key: str, deadline: Deadline) -> None:
        self._exchange(
            "DELETE",
            self.object_url(key),
            operation="delete",
            key=key,
            deadline=deadline,
            ok=(200, 204),
            accept=self._no_such_key,
        )

    def _list_page(
        self, prefix: str, marker: str | None, limit: int, deadline: Deadline
    ) -> ListPage:
        query = "&".join(
            f"{name}={quote(value, safe='~')}"
            for name, value in self._list_params(self.prefix + prefix, marker, limit)
        )
        response = self._exchange(
            "GET", f"{self.bucket_url()}?{query}", operation="list", key=prefix, deadline=deadline
        )
        try:
            root = parse_xml(response.content)
        except ElementTree.ParseError as exc:
            raise StoreError("ListObjects reply is not XML", operation="list", key=prefix) from exc
        objects = listed_objects(root, self.prefix)
        if (child_text(root, "IsTruncated") or "").strip().lower() != "true":
            return ListPage(objects, next_marker=None)
        return ListPage(objects, next_marker=self._next_marker(root, objects))


def _etag(response: httpx.Response, data: bytes) -> str:
    return response.headers.get("ETag", "").strip('"') or content_etag(data)
