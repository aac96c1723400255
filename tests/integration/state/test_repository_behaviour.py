"""Records on every backend: add, advance, finish, refuse, audit and expire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import structlog
import structlog.testing
from elbsync.state import (
    AuditEntry,
    CheckJob,
    Drain,
    DrainTarget,
    ExpiryPolicy,
    LifecycleAction,
    ObjectStore,
    StateRepository,
    TransitionRefusedError,
    layout,
)

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def new_job(job_id: str = "job-1") -> CheckJob:
    return CheckJob(
        job_id=job_id, member_id="m-1", pool_id="p-1", listener_id="l-1", next_poll_at=NOW
    )


def new_action(key: str = "action-1") -> LifecycleAction:
    return LifecycleAction(
        scaling_group_id="sg-1",
        action_key=key,
        instance_id="i-1",
        hook_name="launch",
        hook_type="INSTANCE_LAUNCHING",
        health_deadline=NOW + timedelta(minutes=10),
        hook_deadline=NOW + timedelta(hours=1),
    )


@pytest.fixture
def repo(store: ObjectStore) -> StateRepository:
    return StateRepository(store)


def test_an_added_record_can_be_loaded_and_is_listed_as_pending(repo: StateRepository) -> None:
    repo.add(new_job())

    loaded = repo.load(CheckJob, "job-1")

    assert loaded is not None
    assert (loaded.job_id, loaded.status, loaded.revision) == ("job-1", "pending", 0)
    assert [job.job_id for job in repo.pending(CheckJob)] == ["job-1"]


def test_adding_the_same_record_again_returns_what_is_stored_without_resetting_it(
    repo: StateRepository,
) -> None:
    added = repo.add(new_job())
    advanced = repo.update(added.model_copy(update={"status": "processing", "attempts": 3}))

    replayed = repo.add(new_job())

    assert replayed == advanced
    assert replayed.attempts == 3


def test_an_update_moves_forward_and_bumps_the_revision(repo: StateRepository) -> None:
    added = repo.add(new_job())

    updated = repo.update(added.model_copy(update={"status": "processing", "attempts": 1}))

    assert (updated.status, updated.revision) == ("processing", 1)
    assert repo.load(CheckJob, "job-1") == updated


def test_an_update_that_moves_backwards_is_refused(repo: StateRepository) -> None:
    added = repo.add(new_job())
    processing = repo.update(added.model_copy(update={"status": "processing"}))

    with pytest.raises(TransitionRefusedError, match="backwards"):
        repo.update(processing.model_copy(update={"status": "pending"}))

    assert repo.load(CheckJob, "job-1") == processing


def test_an_update_from_a_stale_copy_is_refused(repo: StateRepository) -> None:
    copy = repo.add(new_job())
    repo.update(copy.model_copy(update={"status": "processing", "attempts": 1}))

    with pytest.raises(TransitionRefusedError, match="stale"):
        repo.update(copy.model_copy(update={"status": "processing", "attempts": 7}))

    loaded = repo.load(CheckJob, "job-1")
    assert loaded is not None
    assert loaded.attempts == 1


def test_finishing_moves_the_record_out_of_the_pending_listing(repo: StateRepository) -> None:
    added = repo.add(new_job())

    done = repo.update(added.model_copy(update={"status": "processed", "passed": True}))

    assert done.finished_at is not None
    assert list(repo.pending_ids(CheckJob)) == []
    assert repo.load(CheckJob, "job-1") == done
    assert repo.store.get(layout.done_key("check_job", "job-1")) is not None


def test_finishing_with_the_same_terminal_status_twice_is_harmless(repo: StateRepository) -> None:
    added = repo.add(new_job())
    first = repo.update(added.model_copy(update={"status": "processed", "passed": True}))

    second = repo.update(added.model_copy(update={"status": "processed", "passed": True}))

    assert second == first


def test_finishing_differently_after_another_writer_finished_is_refused(
    repo: StateRepository,
) -> None:
    added = repo.add(new_job())
    repo.update(added.model_copy(update={"status": "processed", "passed": True}))

    with pytest.raises(TransitionRefusedError, match="already finished"):
        repo.update(added.model_copy(update={"status": "failed"}))

    loaded = repo.load(CheckJob, "job-1")
    assert loaded is not None
    assert loaded.status == "processed"


def test_adding_a_record_that_already_finished_does_not_revive_it(repo: StateRepository) -> None:
    added = repo.add(new_job())
    done = repo.update(added.model_copy(update={"status": "expired"}))

    again = repo.add(new_job())

    assert again == done
    assert list(repo.pending_ids(CheckJob)) == []


def test_a_pending_copy_written_back_by_a_slow_writer_is_dropped_on_the_next_update(
    repo: StateRepository,
) -> None:
    added = repo.add(new_job())
    repo.update(added.model_copy(update={"status": "processed"}))
    # A writer that read the record before it finished puts its copy back under pending/.
    stale = added.model_copy(update={"status": "processing", "revision": 1})
    repo.store.put(layout.pending_key("check_job", "job-1"), stale.model_dump_json().encode())

    with pytest.raises(TransitionRefusedError, match="already finished"):
        repo.update(stale)

    assert list(repo.pending_ids(CheckJob)) == []


def test_updating_a_record_that_was_never_added_is_refused(repo: StateRepository) -> None:
    with pytest.raises(TransitionRefusedError, match="not recorded"):
        repo.update(new_job())


def test_each_kind_is_listed_on_its_own(repo: StateRepository) -> None:
    repo.add(new_job("j1"))
    repo.add(new_job("j2"))
    repo.add(new_action())
    repo.add(
        Drain(drain_id="d1", targets=(DrainTarget(pool_id="p", member_id="m"),), delete_after=NOW)
    )

    assert sorted(repo.pending_ids(CheckJob)) == ["j1", "j2"]
    assert [a.action_key for a in repo.pending(LifecycleAction)] == ["action-1"]
    assert [d.drain_id for d in repo.pending(Drain)] == ["d1"]


def test_an_unreadable_pending_record_is_logged_and_skipped(repo: StateRepository) -> None:
    repo.add(new_job("good"))
    repo.store.put(layout.pending_key("check_job", "bad"), b"{not json")

    with structlog.testing.capture_logs() as logs:
        listed = [job.job_id for job in repo.pending(CheckJob)]

    assert listed == ["good"]
    errors = [line for line in logs if line["log_level"] == "error"]
    assert [line["event"] for line in errors] == ["state_record_unreadable"]
    assert errors[0]["key"].endswith("bad.json")


def test_audit_entries_are_appended_once_and_read_back_by_day(repo: StateRepository) -> None:
    first = AuditEntry(action="members_added", subject="pool-1", details={"count": 2})
    second = AuditEntry(
        action="members_drained", subject="pool-1", at=first.at + timedelta(seconds=1)
    )

    repo.append_audit(first)
    repo.append_audit(first)
    repo.append_audit(second)

    assert list(repo.audit_entries(first.at)) == [first, second]


def test_expiry_deletes_only_old_records_that_no_longer_wait(store: ObjectStore) -> None:
    repo = StateRepository(store)
    finished = repo.add(new_job("old-done"))
    repo.update(finished.model_copy(update={"status": "processed"}))
    repo.add(new_job("still-waiting"))
    repo.append_audit(AuditEntry(action="members_added", subject="p"))
    later = StateRepository(store, clock=lambda: datetime.now(timezone.utc) + timedelta(days=8))

    report = later.expire(
        ExpiryPolicy(
            finished_after=timedelta(days=7),
            idempotency_after=timedelta(days=1),
            audit_after=timedelta(days=30),
        )
    )

    assert report.complete
    assert report.deleted == 1
    assert repo.load(CheckJob, "old-done") is None
    assert list(repo.pending_ids(CheckJob)) == ["still-waiting"]
    assert len(list(store.list(layout.AUDIT))) == 1


def test_expiry_keeps_finished_records_younger_than_the_configured_age(store: ObjectStore) -> None:
    repo = StateRepository(store)
    finished = repo.add(new_job())
    repo.update(finished.model_copy(update={"status": "failed"}))

    report = repo.expire(ExpiryPolicy(finished_after=timedelta(hours=1)))

    assert report.deleted == 0
    assert repo.load(CheckJob, "job-1") is not None
