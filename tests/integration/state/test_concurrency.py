"""Several processes writing and listing the same prefixes at once lose no record.

Runs on the backends other processes can reach: the directory and SeaweedFS (``store_spec``).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from elbsync.state import CheckJob, StateRepository, TransitionRefusedError

from tests.fixtures.objectstore import StoreSpec

WORKERS = 4
OWN_RECORDS = 25
SHARED_RECORDS = 10


@dataclass(frozen=True)
class WorkerReport:
    worker: int
    added: list[str]
    listings: int
    duplicates_seen: int
    own_records_missing: int
    refused_updates: int


def job(job_id: str) -> CheckJob:
    return CheckJob(
        job_id=job_id,
        member_id="m",
        pool_id="p",
        listener_id="l",
        next_poll_at=datetime.now(timezone.utc),
    )


def work(spec: StoreSpec, worker: int) -> WorkerReport:
    """One process: add its own records and race the others on shared ones, listing as it goes."""
    repo = StateRepository(spec.open())
    added: list[str] = []
    listings = duplicates = missing = refused = 0
    for n in range(OWN_RECORDS):
        job_id = f"w{worker}-j{n:03d}"
        repo.add(job(job_id))
        added.append(job_id)
        if n % 5 == 4:
            ids = [record.job_id for record in repo.pending(CheckJob)]
            listings += 1
            duplicates += len(ids) - len(set(ids))
            missing += len(set(added) - set(ids))
    for n in range(SHARED_RECORDS):
        stored = repo.add(job(f"shared-{n:03d}"))
        try:
            repo.update(stored.model_copy(update={"status": "processing", "attempts": worker + 1}))
        except TransitionRefusedError:
            refused += 1  # another process advanced it first: the stale write is refused
    return WorkerReport(worker, added, listings, duplicates, missing, refused)


def test_concurrent_processes_lose_no_record_and_list_consistently(store_spec: StoreSpec) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
        futures = [pool.submit(work, store_spec, worker) for worker in range(WORKERS)]
        reports = [future.result(timeout=120) for future in futures]

    repo = StateRepository(store_spec.open())
    pending = {record.job_id: record for record in repo.pending(CheckJob)}
    own = {job_id for report in reports for job_id in report.added}
    shared = {f"shared-{n:03d}" for n in range(SHARED_RECORDS)}
    assert set(pending) == own | shared
    assert len(own) == WORKERS * OWN_RECORDS
    assert [report.listings for report in reports] == [OWN_RECORDS // 5] * WORKERS
    assert [report.duplicates_seen for report in reports] == [0] * WORKERS
    assert [report.own_records_missing for report in reports] == [0] * WORKERS
    for job_id in shared:
        record = pending[job_id]
        # Every shared record was advanced by someone, and never moved back to pending.
        assert record.status == "processing"
        assert record.attempts in range(1, WORKERS + 1)
