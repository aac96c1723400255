"""The write path against the stateful fake ELB: what ends up in the pools, in the intents and
in their results, and when the writes were sent."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from elbsync.errors import ThrottledError
from elbsync.flows.replies import MemberRow
from elbsync.members.writes import PoolWrite, WritePath, outcomes_of
from elbsync.state import layout
from elbsync.state.directory import DirectoryStore
from elbsync.state.lease import Leases
from elbsync.state.records import AuditEntry, MemberChange, WriteIntent, decode
from elbsync.state.repository import StateRepository

from tests.unit.clients.fake_cloud import Failure, FakeCloud
from tests.unit.waits.conftest import START, FakeTime, SentLog

LB = "lb-1"
THROTTLED = Failure(429, {"error_code": "APIG.0308", "error_msg": "slow down"})
#: The client tries a call this many times before giving up (see the ``elb`` fixture).
ATTEMPTS = 6


def add(n: int) -> MemberChange:
    return MemberChange(op="add", address=f"10.2.0.{n}", protocol_port=80)


def delete(n: int) -> MemberChange:
    return MemberChange(op="delete", address=f"10.2.0.{n}", protocol_port=80)


def write(pool_id: str, *changes: MemberChange) -> PoolWrite:
    return PoolWrite(pool_id, LB, changes)


def action(request: httpx.Request) -> str:
    """``batch-add``, ``batch-delete``, … from a request's path."""
    return request.url.path.rsplit("/", 1)[-1]


def pool_of(request: httpx.Request) -> str:
    return request.url.path.split("/")[5]


def addresses_in(request: httpx.Request) -> list[str]:
    return [m["address"] for m in json.loads(request.content)["members"]]


def member_ids(cloud: FakeCloud, pool_id: str) -> dict[str, str]:
    """Address → member id of what the fake ELB holds now."""
    return {str(m["address"]): str(m["id"]) for m in cloud.pools[pool_id]}


def outcomes(intent: WriteIntent) -> dict[tuple[str, str | None], MemberRow]:
    return {(row.pool_id, row.address): row for row in outcomes_of(intent)}


def audit_entries(repo: StateRepository) -> list[AuditEntry]:
    """Every audit entry, whatever day (entries are stamped with the wall clock)."""
    entries = []
    for listed in repo.store.list(layout.audit_prefix()):
        stored = repo.store.get(listed.key)
        assert stored is not None
        entries.append(decode(AuditEntry, listed.key, stored.data))
    return entries


def writes_sent(sent: SentLog) -> list[tuple[float, httpx.Request]]:
    """The batch calls, with their time in seconds from the start."""
    return [
        ((at - START).total_seconds(), request)
        for at, request in sent
        if action(request).startswith("batch-")
    ]


def test_three_intents_over_two_pools_go_out_in_one_batch_add_per_pool(
    writes: WritePath,
    make_writes: Callable[[], WritePath],
    repo: StateRepository,
    cloud: FakeCloud,
    fake_time: FakeTime,
) -> None:
    ids = writes.enqueue("one", [write("pool-1", add(1)), write("pool-2", add(2))], cause="test")
    fake_time.advance(1)
    ids += writes.enqueue("two", [write("pool-1", add(3), add(4))], cause="test")
    fake_time.advance(1)
    ids += writes.enqueue("three", [write("pool-2", add(5)), write("pool-1", add(6))], cause="t")

    writes.flush([LB])

    assert cloud.calls["elb.batch_add"] == 2
    batches = {pool_of(r): sorted(addresses_in(r)) for r in cloud.requests}
    assert batches == {
        "pool-1": ["10.2.0.1", "10.2.0.3", "10.2.0.4", "10.2.0.6"],
        "pool-2": ["10.2.0.2", "10.2.0.5"],
    }
    for record_id in ids:
        done = repo.load_done(WriteIntent, record_id)
        assert done is not None
        assert done.status == "done"
        assert repo.load_pending(WriteIntent, record_id) is None
    # Another invocation reads the same results from the store.
    results = make_writes().results(ids)
    assert set(results) == set(ids)
    held = {"pool-1": member_ids(cloud, "pool-1"), "pool-2": member_ids(cloud, "pool-2")}
    rows = [row for intent in results.values() for row in outcomes_of(intent)]
    assert len(rows) == 6
    for row in rows:
        assert row.result == "added"
        assert row.member_id == held[row.pool_id][str(row.address)]


def test_a_delete_queued_after_an_add_of_the_same_member_is_sent_in_a_later_round(
    writes: WritePath, cloud: FakeCloud, fake_time: FakeTime
) -> None:
    joined = writes.enqueue("join", [write("pool-1", add(1))], cause="test")
    fake_time.advance(1)
    left = writes.enqueue("leave", [write("pool-1", delete(1))], cause="test")

    writes.flush([LB])

    assert [action(r) for r in cloud.requests] == ["batch-add", "batch-delete"]
    assert cloud.pools["pool-1"] == []
    assert writes.reports[-1].rounds == 2
    results = writes.results(joined + left)
    assert [row.result for row in outcomes_of(results[joined[0]])] == ["added"]
    assert [row.result for row in outcomes_of(results[left[0]])] == ["deleted"]


def test_the_same_change_asked_by_two_intents_is_sent_once_and_both_get_its_result(
    writes: WritePath, cloud: FakeCloud
) -> None:
    ids = writes.enqueue("first", [write("pool-1", add(1))], cause="test")
    ids += writes.enqueue("second", [write("pool-1", add(1))], cause="test")

    writes.flush([LB])

    assert len(set(ids)) == 2
    assert cloud.calls["elb.batch_add"] == 1
    assert addresses_in(cloud.requests[0]) == ["10.2.0.1"]
    assert len(cloud.pools["pool-1"]) == 1
    member_id = member_ids(cloud, "pool-1")["10.2.0.1"]
    results = writes.results(ids)
    assert set(results) == set(ids)
    for intent in results.values():
        rows = outcomes_of(intent)
        assert [(row.result, row.member_id) for row in rows] == [("added", member_id)]


def test_a_batch_throttled_until_retries_run_out_stays_queued_and_a_later_flush_finishes_it(
    writes: WritePath, repo: StateRepository, cloud: FakeCloud
) -> None:
    cloud.fail_next(*[THROTTLED] * ATTEMPTS)
    ids = writes.enqueue("join", [write("pool-1", add(1), add(2))], cause="test")

    writes.flush([LB])

    assert cloud.calls["elb.batch_add"] == ATTEMPTS
    assert cloud.failures == []
    assert cloud.pools["pool-1"] == []
    assert isinstance(writes.reports[-1].interrupted, ThrottledError)
    assert writes.results(ids) == {}
    assert repo.load_done(WriteIntent, ids[0]) is None
    queued = repo.load_pending(WriteIntent, ids[0])
    assert queued is not None
    assert queued.status == "queued"
    assert [row.result for row in outcomes_of(queued)] == ["queued", "queued"]

    writes.flush([LB])

    assert cloud.calls["elb.batch_add"] == ATTEMPTS + 1
    assert sorted(member_ids(cloud, "pool-1")) == ["10.2.0.1", "10.2.0.2"]
    assert repo.load_pending(WriteIntent, ids[0]) is None
    done = writes.results(ids)[ids[0]]
    assert done.status == "done"
    assert [row.result for row in outcomes_of(done)] == ["added", "added"]


def test_a_member_with_a_bad_address_fails_with_elbs_error_code_while_the_others_are_added(
    writes: WritePath, repo: StateRepository, cloud: FakeCloud
) -> None:
    cloud.bad_addresses = {"10.2.0.2"}
    ids = writes.enqueue("join", [write("pool-1", add(1), add(2), add(3))], cause="test")

    writes.flush([LB])

    assert sorted(member_ids(cloud, "pool-1")) == ["10.2.0.1", "10.2.0.3"]
    done = writes.results(ids)[ids[0]]
    rows = outcomes(done)
    assert rows[("pool-1", "10.2.0.1")].result == "added"
    assert rows[("pool-1", "10.2.0.3")].result == "added"
    refused = rows[("pool-1", "10.2.0.2")]
    assert refused.result == "failed"
    assert refused.member_id is None
    assert refused.error is not None
    assert refused.error["error_code"] == "ELB.8902"
    audit = audit_entries(repo)
    assert [(e.action, e.outcome) for e in audit] == [("members_written", "failed")]


def test_a_second_invocation_that_finds_the_lease_held_returns_at_once_without_writing(
    make_writes: Callable[[], WritePath],
    store: DirectoryStore,
    repo: StateRepository,
    cloud: FakeCloud,
    fake_time: FakeTime,
) -> None:
    holder = Leases(store, clock=fake_time.now).acquire(LB, seconds=60)
    assert holder is not None
    second = make_writes()
    ids = second.enqueue("join", [write("pool-1", add(1))], cause="test")

    second.flush([LB])

    assert cloud.requests == []
    assert sum(cloud.calls.values()) == 0
    assert fake_time.sleeps == []
    assert second.reports == []
    queued = repo.load_pending(WriteIntent, ids[0])
    assert queued is not None
    assert queued.status == "queued"
    assert second.results(ids) == {}


def test_the_holder_waits_at_least_pace_s_between_two_writes_to_the_same_balancer(
    writes: WritePath, cloud: FakeCloud, fake_time: FakeTime, sent: SentLog
) -> None:
    writes.enqueue("join", [write("pool-1", add(1)), write("pool-2", add(2))], cause="test")

    writes.flush([LB])

    batches = writes_sent(sent)
    assert [pool_of(r) for _, r in batches] == ["pool-1", "pool-2"]
    (first_at, _), (second_at, _) = batches
    # The first write waits for the burst to gather, the second for the busy window.
    assert first_at >= writes.linger_s
    assert second_at - first_at >= writes.pace_s
    assert any(slept >= writes.pace_s for slept in fake_time.sleeps)
    assert sum(fake_time.sleeps) >= writes.linger_s + writes.pace_s


def test_the_next_invocation_waits_out_the_busy_window_its_predecessor_left_in_the_lease(
    make_writes: Callable[[], WritePath], cloud: FakeCloud, fake_time: FakeTime, sent: SentLog
) -> None:
    first = make_writes()
    first.enqueue("one", [write("pool-1", add(1))], cause="test")
    first.flush([LB])
    second = make_writes()
    second.enqueue("two", [write("pool-1", add(2))], cause="test")

    second.flush([LB])

    batches = writes_sent(sent)
    assert len(batches) == 2
    (first_at, _), (second_at, _) = batches
    assert second_at - first_at >= second.pace_s
    assert sorted(member_ids(cloud, "pool-1")) == ["10.2.0.1", "10.2.0.2"]


def test_writes_to_the_same_member_in_two_rounds_are_paced_too(
    writes: WritePath, fake_time: FakeTime, sent: SentLog
) -> None:
    writes.enqueue("join", [write("pool-1", add(1))], cause="test")
    fake_time.advance(1)
    writes.enqueue("leave", [write("pool-1", delete(1))], cause="test")

    writes.flush([LB])

    (added_at, added), (deleted_at, deleted) = writes_sent(sent)
    assert (action(added), action(deleted)) == ("batch-add", "batch-delete")
    assert deleted_at - added_at >= writes.pace_s


def test_an_elb_reply_that_accounts_for_no_member_is_not_sent_again_by_the_same_invocation(
    writes: WritePath, repo: StateRepository, cloud: FakeCloud
) -> None:
    # ELB answers 201 but lists none of the members: no result may be invented.
    cloud.fail_next(*[Failure(201, {"members": []})] * 20)
    ids = writes.enqueue("join", [write("pool-1", add(1))], cause="test")

    writes.flush([LB])

    assert cloud.calls["elb.batch_add"] == 1
    queued = repo.load_pending(WriteIntent, ids[0])
    assert queued is not None
    assert [row.result for row in outcomes_of(queued)] == ["queued"]
