"""The object-store interface every backend implements.

Five operations, each bounded by a :class:`~elbsync.deadline.Deadline` (the store's
own, given when it was opened, unless a call passes a tighter one):

- :meth:`ObjectStore.get` → the bytes and their ETag, or ``None``;
- :meth:`ObjectStore.put` → overwrite (last writer wins);
- :meth:`ObjectStore.create` → create-if-absent, :class:`~elbsync.state.errors.KeyExists` if not;
- :meth:`ObjectStore.delete` → absent is fine;
- :meth:`ObjectStore.list_page` / :meth:`ObjectStore.list` → keys under a prefix, sorted, paged.

Keys are relative to the store's root (the ``prefix`` of ``s3://bucket/prefix``) and use a safe
alphabet, so they mean the same on a file system, in a URL path and in a signature.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from elbsync.deadline import Deadline
from elbsync.state.errors import InvalidKeyError

MAX_PAGE_SIZE = 1000
MAX_KEY_LENGTH = 512

_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


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


class ObjectStore(ABC):
    """A flat key → bytes store with create-if-absent and prefix listing."""

    #: Where the store lives, safe to log (``file:///...``, ``s3://bucket/prefix``).
    url: str

    def __init__(self, *, deadline: Deadline) -> None:
        self.deadline = deadline

    def _deadline(self, deadline: Deadline | None) -> Deadline:
        if deadline is None:
            return self.deadline
        return deadline if deadline.remaining() < self.deadline.remaining() else self.deadline

    @abstractmethod
    def get(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None:
        """The object at ``key``, or ``None`` when there is none."""

    @abstractmethod
    def put(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        """Store ``data`` at ``key`` (replacing what is there); return the new ETag."""

    @abstractmethod
    def create(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        """Store ``data`` only if ``key`` is absent; return the ETag or raise ``KeyExistsError``."""

    @abstractmethod
    def delete(
        self, key: str, *, deadline: Deadline | None = None, expected_etag: str | None = None
    ) -> None:
        """Remove ``key``; nothing happens when it is absent.

        ``expected_etag`` only matters when a delete's reply is lost and the object is still
        there on reading back: it is deleted again only if it is still the version the caller
        meant to remove (any version when ``None``).
        """

    @abstractmethod
    def list_page(
        self,
        prefix: str,
        *,
        marker: str | None = None,
        limit: int = MAX_PAGE_SIZE,
        deadline: Deadline | None = None,
    ) -> ListPage:
        """Up to ``limit`` objects whose keys start with ``prefix``, in key order."""

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
