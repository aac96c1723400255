"""Record models, their transitions and where they are kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from elbsync.errors import PathIdError
from elbsync.state import (
    SCHEMA_VERSION,
    AuditEntry,
    CheckJob,
    CorruptRecordError,
    Drain,
    DrainTarget,
    IdempotencyRecord,
    LifecycleAction,
    LifecycleActionRef,
    TransitionRefusedError,
    WaitedMember,
    check_transition,
    layout,
)
from elbsync.state.records import decode, encode

NOW = datetime(2024, 6, 3, 10, 0, tzinfo=timezone.utc)


def job(status: str = "pending", revision: int = 0, **changes: object) -> CheckJob:
    base = CheckJob(
        job_id="job-1",
        member_id="m-1",
        pool_id="p-1",
        listener_id="l-1",
        next_poll_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    return base.model_copy(update={"status": status, "revision": revision, **changes})


TRANSITIONS = [
    ("pending", "processing", True),
    ("pending", "processed", True),
    ("processing", "processing", True),
    ("processing", "failed", True),
    ("processed", "processed", False),
]


@pytest.mark.parametrize(
    ("current", "new", "writes"),
    TRANSITIONS,
    ids=[f"{c}->{n}" for c, n, _ in TRANSITIONS],
)
def test_forward_moves_are_allowed_and_the_same_terminal_status_is_a_no_op(
    current: str, new: str, writes: bool
) -> None:
    assert check_transition(job(current), job(new)) is writes


REFUSED = [
    ("processing", "pending", "moves backwards"),
    ("processed", "failed", "already finished"),
    ("expired", "processing", "already finished"),
]


@pytest.mark.parametrize(
    ("current", "new", "reason"), REFUSED, ids=[f"{c}->{n}" for c, n, _ in REFUSED]
)
def test_backward_moves_and_changing_a_finished_record_are_refused(
    current: str, new: str, reason: str
) -> None:
    with pytest.raises(TransitionRefusedError, match=reason):
        check_transition(job(current), job(new))


def test_a_write_based_on_an_older_revision_is_refused_as_stale() -> None:
    with pytest.raises(TransitionRefusedError, match="stale"):
        check_transition(job("processing", revision=4), job("processing", revision=3))


def test_records_of_different_ids_never_replace_each_other() -> None:
    with pytest.raises(TransitionRefusedError, match="not the same record"):
        check_transition(job(), job(job_id="job-2"))


def test_every_record_round_trips_through_json_with_its_schema_version() -> None:
    records = [
        job(findings=()),
        LifecycleAction(
            scaling_group_id="sg-1",
            action_key="key-1",
            instance_id="i-1",
            hook_name="hook",
            hook_type="INSTANCE_LAUNCHING",
            members=(WaitedMember(pool_id="p", address="10.0.0.5", protocol_port=80),),
            health_deadline=NOW,
            hook_deadline=NOW + timedelta(hours=1),
        ),
        Drain(
            drain_id="d-1",
            targets=(
                DrainTarget(pool_id="p", member_id="m"),
                DrainTarget(pool_id="q", member_id="n"),
            ),
            delete_after=NOW,
            then_complete=LifecycleActionRef(scaling_group_id="sg", action_key="k"),
        ),
        IdempotencyRecord(
            key="ab",
            source="smn",
            event_id="e",
            payload_hash="h",
            status="completed",
            generation=1,
            owner="o",
            expires_at=NOW,
            reply={"members": [{"id": "m", "ok": True}]},
        ),
        AuditEntry(action="members_added", subject="pool-1", details={"count": 2}),
    ]
    for record in records:
        data = encode(record)
        assert decode(type(record), "k", data) == record
        assert f'"schema_version":{SCHEMA_VERSION}'.encode() in data


def test_a_drain_names_each_of_its_pools_once() -> None:
    drain = Drain(
        drain_id="d",
        targets=tuple(
            DrainTarget(pool_id=p, member_id=m) for p, m in [("p", "1"), ("q", "2"), ("p", "3")]
        ),
        delete_after=NOW,
    )

    assert drain.pool_ids == ("p", "q")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"schema_version": 99, "kind": "check_job"}', "schema_version 99"),
        (b'{"schema_version": 1, "kind": "drain"}', "kind"),
    ],
)
def test_unreadable_or_newer_records_are_reported_as_corrupt(data: bytes, problem: str) -> None:
    with pytest.raises(CorruptRecordError, match=problem):
        decode(CheckJob, "v1/pending/check-jobs/x.json", data)


def test_waiting_records_live_under_pending_and_finished_ones_under_done() -> None:
    assert layout.pending_key("check_job", "job-1") == "v1/pending/check-jobs/job-1.json"
    assert layout.pending_key("lifecycle_action", "k") == "v1/pending/lifecycle-actions/k.json"
    assert layout.pending_key("drain", "d") == "v1/pending/drains/d.json"
    assert layout.done_key("drain", "d") == "v1/done/drains/d.json"
    assert not layout.done_key("check_job", "x").startswith(layout.PENDING)
    assert layout.record_id_of("v1/pending/drains/d-1.json") == "d-1"


def test_idempotency_claims_are_numbered_so_they_sort_and_parse() -> None:
    key = "a" * 64

    first, tenth = layout.claim_key(key, 1), layout.claim_key(key, 10)

    assert first < tenth
    assert layout.claim_generation(tenth) == 10
    assert layout.claim_generation(layout.result_key(key)) is None


def test_audit_keys_sort_by_time_within_a_day_folder() -> None:
    early = layout.audit_key(NOW, "a")
    late = layout.audit_key(NOW + timedelta(microseconds=1), "a")

    assert early.startswith("v1/audit/2024/06/03/20240603T100000.000000Z-")
    assert early < late


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 200, "sp ace"])
def test_ids_that_cannot_name_a_file_are_refused_with_the_field(bad: str) -> None:
    with pytest.raises(PathIdError) as caught:
        layout.pending_key("check_job", bad)

    assert caught.value.field == "id"
