"""The ``file://`` backend: one file per key under a root directory.

It fills in the hooks of :class:`~elbsync.state.store.ObjectStore`, which checks keys, binds
deadlines and logs writes as for every backend. A failure here is an ``OSError`` turned into a
:class:`~elbsync.state.errors.StoreError`: never transient, and never a write whose outcome is
unknown, so nothing is retried or read back.

Safe with several processes writing at once:
- a write goes to a temporary file in ``<root>/.tmp``, is flushed and fsynced, then renamed over
  the key (``os.replace``, atomic on POSIX), and the directory entry is fsynced;
- create-if-absent hard-links the temporary file to the key: ``link`` fails when the key
  exists, so exactly one of several concurrent creators wins, and readers never see a partial
  file;
- ETags are the MD5 of the content (what S3 reports for a single-part upload).
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from elbsync.deadline import Deadline
from elbsync.state.errors import KeyExistsError, StoreError
from elbsync.state.store import (
    ListedObject,
    ListPage,
    ObjectStore,
    StoredObject,
    check_key,
    content_etag,
)

__all__ = ["DirectoryStore"]

_TMP_DIR = ".tmp"
# A writer whose parent directory vanished (a concurrent delete pruned it) tries again.
_PRUNE_RACE_ATTEMPTS = 5


class DirectoryStore(ObjectStore):
    """Keys as files below ``root``; see the module docstring for the guarantees."""

    def __init__(self, root: str | os.PathLike[str], *, deadline: Deadline) -> None:
        super().__init__(deadline=deadline)
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"DirectoryStore({self.url})"

    # -- paths -------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _failure(self, operation: str, key: str | None, exc: OSError) -> StoreError:
        return StoreError(
            f"{type(exc).__name__}: {exc.strerror or exc}", operation=operation, key=key
        )

    def _temp_file(self, data: bytes) -> Path:
        """A fully written, fsynced file in the root's temporary directory."""
        tmp_dir = self.root / _TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        path = tmp_dir / f"{uuid.uuid4().hex}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def _fsync_dir(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _install(self, key: str, data: bytes, place: Callable[[Path, Path], None]) -> str:
        target = self._path(key)
        tmp = self._temp_file(data)
        try:
            for attempt in range(_PRUNE_RACE_ATTEMPTS):
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    place(tmp, target)
                    break
                except FileNotFoundError:
                    if attempt == _PRUNE_RACE_ATTEMPTS - 1:
                        raise
            self._fsync_dir(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return content_etag(data)

    # -- the store's hooks -----------------------------------------------------------------------

    def _read(self, key: str, deadline: Deadline) -> StoredObject | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # a folder is no object, as in a bucket
        except OSError as exc:
            raise self._failure("get", key, exc) from exc
        return StoredObject(key=key, data=data, etag=content_etag(data))

    def _write(self, key: str, data: bytes, deadline: Deadline) -> str:
        try:
            return self._install(key, data, os.replace)
        except OSError as exc:
            raise self._failure("put", key, exc) from exc

    def _create_if_absent(self, key: str, data: bytes, deadline: Deadline) -> str:
        try:
            return self._install(key, data, os.link)
        except FileExistsError as exc:
            raise KeyExistsError(key) from exc
        except OSError as exc:
            raise self._failure("create", key, exc) from exc

    def _remove(self, key: str, deadline: Deadline) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._failure("delete", key, exc) from exc
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty, up to the root (a concurrent writer re-creates them)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise self._failure("delete", None, exc) from exc
            directory = directory.parent

    def _list_page(
        self, prefix: str, marker: str | None, limit: int, deadline: Deadline
    ) -> ListPage:
        # Only the directory the prefix points into is walked: listing pending work never
        # touches finished records kept in another directory.
        base, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*base.split("/")) if base else self.root
        try:
            keys = sorted(
                key
                for key in self._walk(start, base)
                if key.startswith(prefix) and (marker is None or key > marker)
            )
        except OSError as exc:
            raise self._failure("list", prefix, exc) from exc
        objects: list[ListedObject] = []
        for key in keys:
            if len(objects) == limit:
                return ListPage(tuple(objects), next_marker=objects[-1].key)
            listed = self._describe(key)
            if listed is not None:
                objects.append(listed)
        return ListPage(tuple(objects), next_marker=None)

    def _walk(self, directory: Path, base: str) -> Iterator[str]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            key = f"{base}/{entry.name}" if base else entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key)
            elif entry.is_file(follow_symlinks=False):
                yield key

    def _describe(self, key: str) -> ListedObject | None:
        """Size, ETag and time of ``key``; ``None`` if it was deleted since the walk."""
        try:
            data = self._path(key).read_bytes()
            mtime = self._path(key).stat().st_mtime
        except FileNotFoundError:
            return None
        return ListedObject(
            key=key,
            etag=content_etag(data),
            size=len(data),
            last_modified=datetime.fromtimestamp(mtime, tz=timezone.utc),
        )
