"""One behavioural suite for every store backend (directory, SeaweedFS over HTTP, OBS fake).

The ``store`` fixture (tests/fixtures/objectstore.py) runs each test once per backend.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.state import InvalidKeyError, KeyExistsError, ObjectStore
from structlog.typing import EventDict


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_a_missing_key_reads_as_none(store: ObjectStore) -> None:
    assert store.get("nothing/here.json") is None


def test_a_key_that_is_only_a_prefix_of_other_keys_reads_as_none(store: ObjectStore) -> None:
    store.put("inputs/pool-web.json", b"[]")

    assert store.get("inputs") is None


def test_put_then_get_returns_the_bytes_and_their_content_hash_etag(store: ObjectStore) -> None:
    etag = store.put("a/b.json", b'{"x":1}')

    stored = store.get("a/b.json")

    assert stored is not None
    assert stored.data == b'{"x":1}'
    assert stored.etag == etag == md5_hex(b'{"x":1}')


def test_put_replaces_what_is_there_and_changes_the_etag(store: ObjectStore) -> None:
    first = store.put("k.json", b"one")
    second = store.put("k.json", b"two")

    stored = store.get("k.json")

    assert stored is not None
    assert stored.data == b"two"
    assert first != second == stored.etag


def test_create_stores_a_new_key(store: ObjectStore) -> None:
    etag = store.create("new.json", b"{}")

    stored = store.get("new.json")
    assert stored is not None
    assert stored.data == b"{}"
    assert stored.etag == etag


def test_create_refuses_an_existing_key_and_leaves_it_untouched(store: ObjectStore) -> None:
    store.put("taken.json", b"original")

    with pytest.raises(KeyExistsError):
        store.create("taken.json", b"intruder")

    stored = store.get("taken.json")
    assert stored is not None
    assert stored.data == b"original"


def test_exactly_one_of_many_concurrent_creators_wins(store: ObjectStore) -> None:
    winners: list[int] = []
    losers: list[int] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        try:
            store.create("contended.json", f"writer-{n}".encode())
        except KeyExistsError:
            with lock:
                losers.append(n)
            return
        with lock:
            winners.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(winners) == 1
    assert len(losers) == 7
    stored = store.get("contended.json")
    assert stored is not None
    assert stored.data == f"writer-{winners[0]}".encode()


def test_delete_removes_a_key_and_deleting_again_is_harmless(store: ObjectStore) -> None:
    store.put("gone.json", b"x")

    store.delete("gone.json")
    store.delete("gone.json")

    assert store.get("gone.json") is None


def test_a_deleted_key_can_be_created_again(store: ObjectStore) -> None:
    store.create("again.json", b"1")
    store.delete("again.json")

    store.create("again.json", b"2")

    stored = store.get("again.json")
    assert stored is not None
    assert stored.data == b"2"


def test_listing_returns_only_keys_under_the_prefix_in_key_order(store: ObjectStore) -> None:
    for key in ["p/b.json", "p/a.json", "p/sub/c.json", "q/a.json", "pp.json"]:
        store.put(key, key.encode())

    keys = [listed.key for listed in store.list("p/")]

    assert keys == ["p/a.json", "p/b.json", "p/sub/c.json"]


def test_listing_reports_size_etag_and_a_recent_modification_time(store: ObjectStore) -> None:
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    store.put("meta/x.json", b"12345")

    (listed,) = list(store.list("meta/"))

    assert listed.size == 5
    assert listed.etag == md5_hex(b"12345")
    assert before <= listed.last_modified <= datetime.now(timezone.utc) + timedelta(minutes=5)


def test_listing_pages_through_every_key_exactly_once(store: ObjectStore) -> None:
    expected = [f"many/k{n:03d}.json" for n in range(23)]
    for key in expected:
        store.put(key, b"1")

    first = store.list_page("many/", limit=10)
    assert len(first.objects) == 10
    assert first.next_marker is not None
    everything = [listed.key for listed in store.list("many/", page_size=10)]

    assert everything == expected


def test_listing_an_empty_prefix_gives_one_empty_last_page(store: ObjectStore) -> None:
    page = store.list_page("empty/")

    assert page.objects == ()
    assert page.next_marker is None


def test_a_partial_prefix_matches_key_beginnings(store: ObjectStore) -> None:
    for key in ["logs/2024-06-01.json", "logs/2024-06-02.json", "logs/2024-07-01.json"]:
        store.put(key, b"1")

    keys = [listed.key for listed in store.list("logs/2024-06")]

    assert keys == ["logs/2024-06-01.json", "logs/2024-06-02.json"]


@pytest.mark.parametrize(
    "key", ["../escape.json", "/abs.json", "a//b.json", ".hidden", "a b.json", ""]
)
def test_keys_outside_the_safe_alphabet_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.put(key, b"x")


def test_no_call_starts_once_the_deadline_has_passed(store: ObjectStore) -> None:
    spent = Deadline.after(0)

    with pytest.raises(DeadlineExceededError):
        store.put("late.json", b"x", deadline=spent)
    with pytest.raises(DeadlineExceededError):
        store.get("late.json", deadline=spent)

    assert store.get("late.json") is None


def test_every_backend_logs_its_writes_with_the_same_lines(
    store: ObjectStore, log_lines: list[EventDict]
) -> None:
    store.put("logged/k.json", b"1")
    store.create("logged/c.json", b"1")
    store.delete("logged/k.json")
    store.get("logged/c.json")

    assert [(line["event"], line["operation"], line["key"]) for line in log_lines] == [
        ("state_write_started", "put", "logged/k.json"),
        ("state_write_finished", "put", "logged/k.json"),
        ("state_write_started", "create", "logged/c.json"),
        ("state_write_finished", "create", "logged/c.json"),
        ("state_write_started", "delete", "logged/k.json"),
        ("state_write_finished", "delete", "logged/k.json"),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("../escape.json"),
        lambda s: s.create("a//b.json", b"x"),
        lambda s: s.delete(".hidden"),
        lambda s: s.list_page("a b/"),
        lambda s: list(s.list("/abs/")),
    ],
    ids=["get", "create", "delete", "list_page", "list"],
)
def test_every_operation_refuses_keys_and_prefixes_outside_the_safe_alphabet(
    store: ObjectStore, call: Callable[[ObjectStore], object]
) -> None:
    with pytest.raises(InvalidKeyError):
        call(store)


def test_a_page_holds_at_least_one_object_whatever_limit_is_asked(store: ObjectStore) -> None:
    for n in range(3):
        store.put(f"paged/k{n}.json", b"1")

    page = store.list_page("paged/", limit=0)

    assert [listed.key for listed in page.objects] == ["paged/k0.json"]
    assert page.next_marker is not None
    assert len(store.list_page("paged/", limit=50_000).objects) == 3


def test_no_write_or_listing_starts_once_the_deadline_has_passed(store: ObjectStore) -> None:
    store.put("kept.json", b"x")
    spent = Deadline.after(0)

    with pytest.raises(DeadlineExceededError):
        store.create("late.json", b"x", deadline=spent)
    with pytest.raises(DeadlineExceededError):
        store.delete("kept.json", deadline=spent)
    with pytest.raises(DeadlineExceededError):
        store.list_page("", deadline=spent)

    assert [listed.key for listed in store.list("")] == ["kept.json"]
