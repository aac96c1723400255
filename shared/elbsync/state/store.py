"""The object store: one base class owns the behaviour, each backend fills in a few hooks.

Five operations, each bounded by a :class:`~elbsync.deadline.Deadline` (the store's own, given
when it was opened, unless a call passes a tighter one):

- :meth:`ObjectStore.get` → the bytes and their ETag, or ``None``;
- :meth:`ObjectStore.put` → overwrite (last writer wins);
- :meth:`ObjectStore.create` → create-if-absent, :class:`~elbsync.state.errors.KeyExistsError`
  if not;
- :meth:`ObjectStore.delete` → absent is fine;
- :meth:`ObjectStore.list_page` / :meth:`ObjectStore.list` → keys under a prefix, sorted, paged.

:class:`ObjectStore` does for every backend what a call means beyond one attempt:

- keys and prefixes are checked (a safe alphabet, so a key means the same on a file system, in
  a URL path and in a signature) and pages hold at most 1,000 objects;
- no call starts once its deadline has passed;
- one log line before and one after every write (``state_write_started`` /
  ``state_write_finished``);
- a transient failure (:class:`~elbsync.state.errors.StoreUnavailableError`) is retried with
  full jitter, never past the deadline (:mod:`elbsync.http.retry`, ``state_call_retrying``):
  any for a read, for a write only one that cannot have taken effect;
- a write that failed although it may have taken effect (``may_have_applied``) is settled by
  reading the key back (``state_write_reply_lost``), never by writing again blindly: see
  :meth:`ObjectStore.put`, :meth:`ObjectStore.create` and :meth:`ObjectStore.delete`.

A backend fills in one attempt of each primitive (:meth:`ObjectStore._read`, ``_write``,
``_create_if_absent``, ``_remove``, ``_list_page``), given a valid key and the call's deadline,
and reports failures as :class:`~elbsync.state.errors.StoreError`, with ``may_have_applied``
set on a write that failed after it may have reached the store.

Keys are relative to the store's root (the ``prefix`` of ``s3://bucket/prefix``).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog

from elbsync.deadline import Deadline
from elbsync.http.retry import RetryPolicy, Sleep, call_with_retry
from elbsync.state.errors import (
    InvalidKeyError,
    KeyExistsError,
    StoreError,
    StoreUnavailableError,
    WriteOutcomeUnknownError,
)

__all__ = [
    "ListPage",
    "ListedObject",
    "ObjectStore",
    "StoredObject",
    "check_key",
    "check_prefix",
    "content_etag",
]

MAX_PAGE_SIZE = 1000
MAX_KEY_LENGTH = 512

T = TypeVar("T")

_log = structlog.get_logger("elbsync.state")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_WRITES = frozenset({"put", "create", "delete"})


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise :class:`InvalidKeyError`.

    Segments separated by ``/``, each made of ``A-Z a-z 0-9 . _ -`` and not starting with a dot
    (so no ``..``, no hidden files, no empty segment).
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"key must be 1 to {MAX_KEY_LENGTH} characters: {key!r}")
    if not all(_SEGMENT.match(segment) for segment in key.split("/")):
        raise InvalidKeyError(f"not a valid key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key that may end with ``/``."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def content_etag(data: bytes) -> str:
    """The MD5 hex digest of ``data``: the ETag S3 reports for a single-part upload."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes
    #: An opaque version tag (unquoted): an MD5 hex digest of the bytes on S3 and the directory.
    etag: str


@dataclass(frozen=True)
class ListedObject:
    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class ListPage:
    objects: tuple[ListedObject, ...]
    #: Pass back as ``marker`` for the next page; ``None`` on the last page.
    next_marker: str | None


class ObjectStore:
    """A flat key → bytes store with create-if-absent and prefix listing.

    The public operations are the behaviour; a backend overrides the hooks only. (The hooks
    are not abstract so that a test double may stand in by overriding the operations.)
    """

    #: Where the store lives, safe to log (``file:///...``, ``s3://bucket/prefix``).
    url: str

    def __init__(
        self,
        *,
        deadline: Deadline,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.deadline = deadline
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng

    # -- the operations ------------------------------------------------------------------------

    def get(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None:
        """The object at ``key``, or ``None`` when there is none."""
        bound = self._start("get", check_key(key), deadline)
        return self._retrying("get", key, bound, lambda: self._read(key, bound))

    def put(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        """Store ``data`` at ``key`` (replacing what is there); return the new ETag.

        A lost reply: our bytes there → done; otherwise ``WriteOutcomeUnknownError`` carrying
        what is there, for the caller (who knows what the record means) to decide again.
        """
        bound = self._start("put", check_key(key), deadline)
        _log.info("state_write_started", operation="put", key=key)

        def written() -> str:
            etag = self._retrying("put", key, bound, lambda: self._write(key, data, bound))
            _log.info("state_write_finished", operation="put", key=key)
            return etag

        def settle(current: StoredObject | None, failure: StoreError) -> str:
            if current is None or current.data != data:
                raise WriteOutcomeUnknownError(
                    "the reply was lost and the object does not hold our bytes",
                    operation="put",
                    key=key,
                    current=current,
                ) from failure
            _log.info("state_write_confirmed", operation="put", key=key)
            return current.etag

        # Settling never sends a put again, so it follows the retries instead of joining them.
        return self._settled(key, written, settle, bound)

    def create(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        """Store ``data`` only if ``key`` is absent; return the ETag or raise ``KeyExistsError``.

        A lost reply: our bytes there → created; other bytes → ``KeyExistsError``; nothing →
        the create did not happen and is sent again (a create-if-absent never overwrites).
        """
        bound = self._start("create", check_key(key), deadline)
        _log.info("state_write_started", operation="create", key=key)

        def settle(current: StoredObject | None, failure: StoreError) -> str:
            if current is None:
                failure.may_have_applied = False  # reading back showed it did not happen
                raise failure
            if current.data != data:
                raise KeyExistsError(key) from failure
            return current.etag

        def attempt() -> str:
            return self._settled(
                key, lambda: self._create_if_absent(key, data, bound), settle, bound
            )

        etag = self._retrying("create", key, bound, attempt)
        _log.info("state_write_finished", operation="create", key=key)
        return etag

    def delete(
        self, key: str, *, deadline: Deadline | None = None, expected_etag: str | None = None
    ) -> None:
        """Remove ``key``; nothing happens when it is absent.

        ``expected_etag`` only matters when a delete's reply is lost and the object is still
        there on reading back: it is deleted again only if it is still the version the caller
        meant to remove (any version when ``None``), else ``WriteOutcomeUnknownError``.
        """
        bound = self._start("delete", check_key(key), deadline)
        _log.info("state_write_started", operation="delete", key=key)

        def settle(current: StoredObject | None, failure: StoreError) -> None:
            if current is None:
                return
            if expected_etag is None or current.etag == expected_etag:
                failure.may_have_applied = False  # still there: it did not happen
                raise failure
            raise WriteOutcomeUnknownError(
                "the reply was lost and the key now holds another version",
                operation="delete",
                key=key,
                current=current,
            ) from failure

        def attempt() -> None:
            self._settled(key, lambda: self._remove(key, bound), settle, bound)

        self._retrying("delete", key, bound, attempt)
        _log.info("state_write_finished", operation="delete", key=key)

    def list_page(
        self,
        prefix: str,
        *,
        marker: str | None = None,
        limit: int = MAX_PAGE_SIZE,
        deadline: Deadline | None = None,
    ) -> ListPage:
        """Up to ``limit`` objects (1 to 1,000) whose keys start with ``prefix``, in key order."""
        bound = self._start("list", check_prefix(prefix), deadline)
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        return self._retrying(
            "list", prefix, bound, lambda: self._list_page(prefix, marker, limit, bound)
        )

    def list(
        self, prefix: str, *, page_size: int = MAX_PAGE_SIZE, deadline: Deadline | None = None
    ) -> Iterator[ListedObject]:
        """Every object under ``prefix``, fetching one page at a time as the caller iterates."""
        marker: str | None = None
        while True:
            page = self.list_page(prefix, marker=marker, limit=page_size, deadline=deadline)
            yield from page.objects
            if page.next_marker is None:
                return
            marker = page.next_marker

    # -- the hooks a backend fills in: one attempt each, with a checked key ----------------------

    def _read(self, key: str, deadline: Deadline) -> StoredObject | None:
        raise NotImplementedError(f"{type(self).__name__} does not read")

    def _write(self, key: str, data: bytes, deadline: Deadline) -> str:
        raise NotImplementedError(f"{type(self).__name__} does not write")

    def _create_if_absent(self, key: str, data: bytes, deadline: Deadline) -> str:
        """Store ``data`` only if ``key`` is absent, else raise ``KeyExistsError``."""
        raise NotImplementedError(f"{type(self).__name__} does not create")

    def _remove(self, key: str, deadline: Deadline) -> None:
        """Remove ``key``; an absent key is no failure."""
        raise NotImplementedError(f"{type(self).__name__} does not delete")

    def _list_page(
        self, prefix: str, marker: str | None, limit: int, deadline: Deadline
    ) -> ListPage:
        raise NotImplementedError(f"{type(self).__name__} does not list")

    # -- what every call shares -----------------------------------------------------------------

    def _start(self, operation: str, key: str, deadline: Deadline | None) -> Deadline:
        """The tighter of the store's deadline and the call's, checked before anything starts."""
        bound = self.deadline
        if deadline is not None and deadline.remaining() < bound.remaining():
            bound = deadline
        bound.check(f"{operation} {key}".strip())
        return bound

    def _retrying(
        self, operation: str, key: str, deadline: Deadline, attempt: Callable[[], T]
    ) -> T:
        write = operation in _WRITES

        def should_retry(exc: Exception) -> bool:
            # Only a transient failure of this very operation (a read-back's is not one), and
            # for a write only when it cannot have taken effect.
            return (
                isinstance(exc, StoreUnavailableError)
                and exc.operation == operation
                and not (write and exc.may_have_applied)
            )

        def on_retry(exc: Exception, number: int, wait: float) -> None:
            _log.warning(
                "state_call_retrying", operation=operation, key=key, retry=number, wait_s=wait
            )

        return call_with_retry(
            attempt,
            should_retry=should_retry,
            deadline=deadline,
            policy=self.policy,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=on_retry,
        )

    def _settled(
        self,
        key: str,
        write: Callable[[], T],
        settle: Callable[[StoredObject | None, StoreError], T],
        deadline: Deadline,
    ) -> T:
        """``write()``, or, when it failed but may have taken effect, what reading back says."""
        try:
            return write()
        except StoreError as failure:
            if not failure.may_have_applied:
                raise
            return settle(self._read_back(key, failure, deadline), failure)

    def _read_back(self, key: str, failure: StoreError, deadline: Deadline) -> StoredObject | None:
        _log.warning(
            "state_write_reply_lost", key=key, reason=failure.message, status=failure.status
        )
        return self.get(key, deadline=deadline)
