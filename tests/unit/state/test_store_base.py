"""What ObjectStore does for every backend, shown with a backend that only fills in the hooks.

:class:`MemoryStore` keeps objects in a dict and fails its next hook calls as told, the way a
remote store fails: unavailable before acting, or a write applied although its reply was lost.
The tests assert what the store now holds, what the hooks were asked and what was logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import pytest
from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.http.retry import RetryPolicy
from elbsync.state import (
    InvalidKeyError,
    KeyExistsError,
    StoreError,
    StoreUnavailableError,
    WriteOutcomeUnknownError,
)
from elbsync.state.store import ListedObject, ListPage, ObjectStore, StoredObject, content_etag
from structlog.typing import EventDict

Hook = Literal["read", "write", "create", "remove", "list"]
OPERATION = {"read": "get", "write": "put", "create": "create", "remove": "delete", "list": "list"}


@dataclass
class Fault:
    hook: Hook
    #: "unavailable": refused before acting; "lost": applied, then the reply was lost.
    kind: Literal["unavailable", "lost", "lost_unapplied"]


class MemoryStore(ObjectStore):
    """A dict behind the five hooks, with faults for the next hook calls."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.faults: list[Fault] = []
        self.calls: list[tuple[Hook, str]] = []
        self.sleeps: list[float] = []
        super().__init__(
            deadline=Deadline.after(30),
            policy=RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=0.1),
            sleep=self.sleeps.append,
            rng=lambda: 1.0,
        )
        self.url = "memory://"

    def _fault(self, hook: Hook, key: str) -> Fault | None:
        self.calls.append((hook, key))
        fault = next((f for f in self.faults if f.hook == hook), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.kind == "unavailable":
                raise StoreUnavailableError("injected", operation=OPERATION[hook], key=key)
        return fault

    def _lost(self, hook: Hook, key: str) -> StoreError:
        return StoreUnavailableError(
            "injected: reply lost", operation=OPERATION[hook], key=key, may_have_applied=True
        )

    def _read(self, key: str, deadline: Deadline) -> StoredObject | None:
        self._fault("read", key)
        data = self.objects.get(key)
        return None if data is None else StoredObject(key, data, content_etag(data))

    def _write(self, key: str, data: bytes, deadline: Deadline) -> str:
        fault = self._fault("write", key)
        if fault is not None and fault.kind == "lost_unapplied":
            raise self._lost("write", key)
        self.objects[key] = data
        if fault is not None:
            raise self._lost("write", key)
        return content_etag(data)

    def _create_if_absent(self, key: str, data: bytes, deadline: Deadline) -> str:
        fault = self._fault("create", key)
        if fault is not None and fault.kind == "lost_unapplied":
            raise self._lost("create", key)
        if key in self.objects:
            raise KeyExistsError(key)
        self.objects[key] = data
        if fault is not None:
            raise self._lost("create", key)
        return content_etag(data)

    def _remove(self, key: str, deadline: Deadline) -> None:
        fault = self._fault("remove", key)
        if fault is not None and fault.kind == "lost_unapplied":
            raise self._lost("remove", key)
        self.objects.pop(key, None)
        if fault is not None:
            raise self._lost("remove", key)

    def _list_page(
        self, prefix: str, marker: str | None, limit: int, deadline: Deadline
    ) -> ListPage:
        self._fault("list", f"{prefix}?limit={limit}")
        keys = sorted(k for k in self.objects if k.startswith(prefix) and (marker or "") < k)
        listed = tuple(
            ListedObject(k, content_etag(self.objects[k]), len(self.objects[k]), NOW)
            for k in keys[:limit]
        )
        return ListPage(listed, next_marker=listed[-1].key if len(keys) > limit else None)


NOW = datetime(2024, 6, 3, tzinfo=timezone.utc)


def events(logs: list[EventDict]) -> list[tuple[object, ...]]:
    return [(line["event"], line.get("operation"), line.get("key")) for line in logs]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_every_write_is_logged_before_and_after_by_the_base(
    store: MemoryStore, log_lines: list[EventDict]
) -> None:
    store.put("k.json", b"1")
    store.create("c.json", b"1")
    store.delete("k.json")
    store.get("c.json")
    list(store.list(""))

    assert events(log_lines) == [
        ("state_write_started", "put", "k.json"),
        ("state_write_finished", "put", "k.json"),
        ("state_write_started", "create", "c.json"),
        ("state_write_finished", "create", "c.json"),
        ("state_write_started", "delete", "k.json"),
        ("state_write_finished", "delete", "k.json"),
    ]


def test_a_create_that_finds_the_key_taken_logs_no_finished_line(
    store: MemoryStore, log_lines: list[EventDict]
) -> None:
    store.objects["c.json"] = b"theirs"

    with pytest.raises(KeyExistsError):
        store.create("c.json", b"mine")

    assert events(log_lines) == [("state_write_started", "create", "c.json")]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("../x.json"),
        lambda s: s.put("a//b.json", b"1"),
        lambda s: s.create(".hidden", b"1"),
        lambda s: s.delete("a b.json"),
        lambda s: s.list_page("../"),
    ],
    ids=["get", "put", "create", "delete", "list_page"],
)
def test_keys_and_prefixes_are_checked_before_any_hook_runs(
    store: MemoryStore, call: Callable[[MemoryStore], object]
) -> None:
    with pytest.raises(InvalidKeyError):
        call(store)

    assert store.calls == []


@pytest.mark.parametrize(("asked", "given"), [(0, 1), (-5, 1), (7, 7), (1000, 1000), (5000, 1000)])
def test_page_sizes_reach_the_backend_between_one_and_a_thousand(
    store: MemoryStore, asked: int, given: int
) -> None:
    store.list_page("p/", limit=asked)

    assert store.calls == [("list", f"p/?limit={given}")]


def test_no_hook_runs_once_the_calls_deadline_has_passed(store: MemoryStore) -> None:
    spent = Deadline.after(0)

    for call in (
        lambda: store.get("k.json", deadline=spent),
        lambda: store.put("k.json", b"1", deadline=spent),
        lambda: store.create("k.json", b"1", deadline=spent),
        lambda: store.delete("k.json", deadline=spent),
        lambda: store.list_page("", deadline=spent),
    ):
        with pytest.raises(DeadlineExceededError):
            call()

    assert store.calls == []


def test_a_later_deadline_than_the_stores_own_does_not_extend_it(store: MemoryStore) -> None:
    store.deadline = Deadline.after(0)

    with pytest.raises(DeadlineExceededError):
        store.put("k.json", b"1", deadline=Deadline.after(60))

    assert store.calls == []


def test_transient_read_failures_are_retried_with_backoff_and_logged(
    store: MemoryStore, log_lines: list[EventDict]
) -> None:
    store.objects["k.json"] = b"1"
    store.faults += [Fault("read", "unavailable"), Fault("read", "unavailable")]

    stored = store.get("k.json")

    assert stored is not None
    assert stored.data == b"1"
    assert store.sleeps == [0.1, 0.1]
    assert [line["event"] for line in log_lines] == ["state_call_retrying"] * 2


def test_a_write_that_cannot_have_taken_effect_is_sent_again(store: MemoryStore) -> None:
    store.faults.append(Fault("write", "unavailable"))

    store.put("k.json", b"1")

    assert store.calls == [("write", "k.json"), ("write", "k.json")]
    assert store.objects["k.json"] == b"1"


def test_a_lost_put_reply_is_confirmed_by_reading_back(
    store: MemoryStore, log_lines: list[EventDict]
) -> None:
    store.faults.append(Fault("write", "lost"))

    etag = store.put("k.json", b"ours")

    assert etag == content_etag(b"ours")
    assert store.calls == [("write", "k.json"), ("read", "k.json")]
    assert [line["event"] for line in log_lines] == [
        "state_write_started",
        "state_write_reply_lost",
        "state_write_confirmed",
    ]


def test_a_lost_put_that_did_not_apply_is_reported_not_resent(store: MemoryStore) -> None:
    store.objects["k.json"] = b"older"
    store.faults.append(Fault("write", "lost_unapplied"))

    with pytest.raises(WriteOutcomeUnknownError) as caught:
        store.put("k.json", b"newer")

    assert store.calls == [("write", "k.json"), ("read", "k.json")]
    assert getattr(caught.value.current, "data", None) == b"older"


def test_a_lost_create_with_nothing_stored_is_sent_again_after_a_backoff(
    store: MemoryStore,
) -> None:
    store.faults.append(Fault("create", "lost_unapplied"))

    store.create("c.json", b"mine")

    assert store.calls == [("create", "c.json"), ("read", "c.json"), ("create", "c.json")]
    assert store.sleeps == [0.1]
    assert store.objects["c.json"] == b"mine"


def test_a_write_is_never_sent_again_when_reading_it_back_fails(store: MemoryStore) -> None:
    store.faults.append(Fault("create", "lost_unapplied"))
    store.faults += [Fault("read", "unavailable")] * 4

    with pytest.raises(StoreUnavailableError) as caught:
        store.create("c.json", b"mine")

    assert caught.value.operation == "get"
    assert [hook for hook, _ in store.calls] == ["create", "read", "read", "read", "read"]
    assert "c.json" not in store.objects


def test_a_lost_delete_of_another_version_is_reported_not_repeated(store: MemoryStore) -> None:
    store.objects["d.json"] = b"new version"
    store.faults.append(Fault("remove", "lost_unapplied"))

    with pytest.raises(WriteOutcomeUnknownError):
        store.delete("d.json", expected_etag=content_etag(b"old version"))

    assert store.calls == [("remove", "d.json"), ("read", "d.json")]
    assert store.objects["d.json"] == b"new version"


def test_a_lost_delete_of_the_version_meant_is_deleted_again(store: MemoryStore) -> None:
    store.objects["d.json"] = b"v1"
    store.faults.append(Fault("remove", "lost_unapplied"))

    store.delete("d.json", expected_etag=content_etag(b"v1"))

    assert [hook for hook, _ in store.calls] == ["remove", "read", "remove"]
    assert "d.json" not in store.objects


def test_writes_that_keep_failing_stop_at_the_attempt_budget(store: MemoryStore) -> None:
    store.faults += [Fault("write", "unavailable")] * 10

    with pytest.raises(StoreUnavailableError) as caught:
        store.put("k.json", b"1")

    assert caught.value.may_have_applied is False
    assert store.calls == [("write", "k.json")] * 4
