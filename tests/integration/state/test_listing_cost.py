"""Listing pending work costs requests in proportion to pending records, not to history.

2,500 pending and 10,000 finished check jobs; the poller's listing is counted twice:
- over real HTTP against SeaweedFS, counting the requests sent (3 list pages);
- on the directory backend, counting store calls (list pages, and the reads of each record),
  with and without the 10,000 finished records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from elbsync.deadline import Deadline
from elbsync.state import (
    CheckJob,
    ListPage,
    ObjectStore,
    StateRepository,
    StoredObject,
    layout,
    open_store,
)
from elbsync.state.directory import DirectoryStore
from elbsync.state.records import encode

from tests.fixtures.objectstore import SeaweedFS

PENDING = 2_500
FINISHED = 10_000
PAGE = 1_000
NOW = datetime(2024, 6, 3, 10, 0, tzinfo=timezone.utc)


def record(n: int, status: str) -> tuple[str, bytes]:
    job = CheckJob(
        job_id=f"job-{n:05d}",
        member_id="m",
        pool_id="p",
        listener_id="l",
        next_poll_at=NOW,
        status=status,  # type: ignore[arg-type]
    )
    where = layout.done_key if job.terminal else layout.pending_key
    return where("check_job", job.job_id), encode(job)


def records() -> Iterator[tuple[str, bytes]]:
    for n in range(PENDING):
        yield record(n, "pending")
    for n in range(PENDING, PENDING + FINISHED):
        yield record(n, "processed")


class CountingStore(DirectoryStore):
    """The directory backend, counting each call as the request a remote store would get."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, deadline=Deadline.after(300))
        self.calls: list[str] = []

    def list_page(self, prefix: str, **kwargs: object) -> ListPage:
        self.calls.append("list")
        return super().list_page(prefix, **kwargs)  # type: ignore[arg-type]

    def get(self, key: str, **kwargs: object) -> StoredObject | None:
        self.calls.append("get")
        return super().get(key, **kwargs)  # type: ignore[arg-type]


def seed_directory(root: Path, *, finished: bool) -> None:
    # Seeded with plain file writes to keep the test fast; only the listing is under test.
    for key, data in records():
        if finished or key.startswith(layout.PENDING):
            path = root.joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.mark.parametrize("finished", [False, True], ids=["no-history", "10000-finished"])
def test_directory_listing_of_pending_work_ignores_finished_records(
    tmp_path: Path, finished: bool
) -> None:
    seed_directory(tmp_path, finished=finished)
    store = CountingStore(tmp_path)
    repo = StateRepository(store)

    ids = list(repo.pending_ids(CheckJob))
    listing_calls = list(store.calls)
    store.calls.clear()
    loaded = list(repo.pending(CheckJob))

    assert len(ids) == len(loaded) == PENDING
    assert listing_calls == ["list"] * math.ceil(PENDING / PAGE)
    assert store.calls.count("list") == math.ceil(PENDING / PAGE)
    assert store.calls.count("get") == PENDING


@pytest.mark.integration
def test_seaweedfs_listing_of_pending_work_costs_requests_per_pending_record_only(
    seaweedfs: SeaweedFS,
) -> None:
    url = seaweedfs.url("listing-cost")
    seed_client = httpx.Client(limits=httpx.Limits(max_connections=8), timeout=10.0)
    seeding = open_store(
        url,
        deadline=Deadline.after(240),
        client=seed_client,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        endpoint=seaweedfs.endpoint,
    )
    # A few writers are fastest here: client and server share two cores.
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda item: seeding.put(*item), records()))
    seed_client.close()

    sent: list[httpx.Request] = []
    counting_client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=10.0)
    store: ObjectStore = open_store(
        url,
        deadline=Deadline.after(120),
        client=counting_client,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        endpoint=seaweedfs.endpoint,
    )
    repo = StateRepository(store)

    ids = list(repo.pending_ids(CheckJob))
    listing_requests = list(sent)
    sent.clear()
    loaded = list(repo.pending(CheckJob))

    pages = math.ceil(PENDING / PAGE)
    assert len(ids) == len(loaded) == PENDING
    assert len(listing_requests) == pages
    assert all(
        r.url.params["prefix"] == "listing-cost/v1/pending/check-jobs/" for r in listing_requests
    )
    assert len(sent) == pages + PENDING
    # The finished records are all there: the listing just never looked at them.
    assert sum(1 for _ in store.list(layout.done_prefix("check_job"))) == FINISHED
    counting_client.close()
