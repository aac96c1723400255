from __future__ import annotations

import json

import httpx
from elbsync.clients.elb import ElbClient
from elbsync.members.executor import Executor
from elbsync.state.records import MemberChange

from tests.unit.clients.fake_cloud import Failure, FakeCloud

BUSY = Failure(409, {"error_code": "ELB.8907", "error_msg": "load balancer busy"})
THROTTLED = Failure(429, {"error_code": "APIG.0308", "error_msg": "slow down"})


class RecordingPacer:
    """Counts what the executor tells its writer; never waits."""

    def __init__(self) -> None:
        self.waits = 0
        self.writes = 0
        self.refusals = 0

    def before_write(self) -> None:
        self.waits += 1

    def after_write(self) -> None:
        self.writes += 1

    def refused_busy(self) -> None:
        self.refusals += 1


def adds(count: int, start: int = 0) -> list[MemberChange]:
    changes = []
    for n in range(start, start + count):
        address = f"10.2.{n // 250}.{n % 250 + 1}"
        changes.append(
            MemberChange(op="add", address=address, protocol_port=80, name=f"elbsync:{address}")
        )
    return changes


def test_a_batch_of_200_additions_is_one_call_after_one_wait(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    pacer = RecordingPacer()

    outcome = Executor(elb, pacer).send("pool-1", "add", adds(200))

    assert cloud.calls["elb.batch_add"] == 1
    assert (pacer.waits, pacer.writes) == (1, 1)
    assert [r.result for r in outcome.results if r] == ["added"] * 200
    assert all(r is not None and r.member_id for r in outcome.results)
    assert outcome.interrupted is None
    assert len(cloud.pools["pool-1"]) == 200


def test_one_bad_member_is_isolated_and_the_rest_are_applied(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(200)
    cloud.bad_addresses = {str(changes[137].address)}

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", changes)

    failed = [i for i, r in enumerate(outcome.results) if r is not None and r.result == "failed"]
    assert failed == [137]
    error = outcome.results[137].error if outcome.results[137] else None
    assert error is not None
    assert error["error_code"] == "ELB.8902"
    assert len(cloud.pools["pool-1"]) == 199
    assert cloud.calls["elb.batch_add"] <= 2 * 8 + 1  # halving: about 2 calls per level


def test_two_bad_members_in_different_halves_are_both_isolated(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(50)
    cloud.bad_addresses = {str(changes[3].address), str(changes[40].address)}

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", changes)

    failed = {i for i, r in enumerate(outcome.results) if r is not None and r.result == "failed"}
    assert failed == {3, 40}
    assert len(cloud.pools["pool-1"]) == 48


def test_re_adding_reports_existed(elb: ElbClient, cloud: FakeCloud) -> None:
    executor = Executor(elb, RecordingPacer())
    executor.send("pool-1", "add", adds(3))

    again = executor.send("pool-1", "add", adds(3))

    assert [r.result for r in again.results if r] == ["existed"] * 3
    assert len(cloud.pools["pool-1"]) == 3


def test_updates_carry_their_label_and_deletes_report_not_found(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.add_members("pool-1", 2)
    first, second = (str(m["id"]) for m in cloud.pools["pool-1"])
    executor = Executor(elb, RecordingPacer())

    updated = executor.send(
        "pool-1",
        "update",
        [
            MemberChange(op="update", member_id=first, weight=0, label="draining"),
            MemberChange(op="update", member_id=second, weight=9, label="reweighted"),
        ],
    )
    deleted = executor.send("pool-1", "delete", [MemberChange(op="delete", member_id="gone")])

    assert [r.result for r in updated.results if r] == ["draining", "reweighted"]
    assert [r.result for r in deleted.results if r] == ["not_found"]
    assert [m["weight"] for m in cloud.pools["pool-1"]] == [0, 9]


def test_deletes_by_address_name_the_address_and_port(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.add_members("pool-1", 1)
    member = cloud.pools["pool-1"][0]

    outcome = Executor(elb, RecordingPacer()).send(
        "pool-1",
        "delete",
        [MemberChange(op="delete", address=str(member["address"]), protocol_port=80)],
    )

    assert [r.result for r in outcome.results if r] == ["deleted"]
    (body,) = [json.loads(r.content)["members"] for r in cloud.requests]
    assert list(body[0]) == ["address", "protocol_port"]
    assert cloud.pools["pool-1"] == []


def test_a_busy_refusal_waits_longer_and_sends_again(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(BUSY)
    pacer = RecordingPacer()

    outcome = Executor(elb, pacer).send("pool-1", "add", adds(5))

    assert pacer.refusals == 1
    assert cloud.calls["elb.batch_add"] == 2  # no retry storm inside the busy window
    assert [r.result for r in outcome.results if r] == ["added"] * 5


def test_a_balancer_that_stays_busy_leaves_the_changes_queued_not_failed(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.fail_next(BUSY, BUSY, BUSY, BUSY, BUSY)

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", adds(5))

    assert outcome.results == [None] * 5
    assert outcome.interrupted is not None
    assert outcome.interrupted.code == "load_balancer_busy"
    assert cloud.pools["pool-1"] == []


def test_throttling_and_server_errors_outlasting_retries_are_not_a_decision(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.fail_next(*([THROTTLED] * 3 + [Failure(503, {"error_code": "ELB.0503"})] * 3))

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", adds(2))

    assert outcome.results == [None, None]
    assert outcome.interrupted is not None


def test_a_dropped_connection_is_not_a_decision(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(*[httpx.ConnectError("reset")] * 6)

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", adds(2))

    assert outcome.results == [None, None]
    assert outcome.interrupted is not None
    assert outcome.interrupted.code == "transport_error"


def test_a_reply_that_leaves_a_member_out_invents_no_success(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(3)
    cloud.fail_next(
        Failure(
            201,
            {"members": [{"id": "m-1", "address": changes[0].address, "protocol_port": 80}]},
        )
    )

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", changes)

    assert outcome.results[0] is not None
    assert outcome.results[0].result == "added"
    assert outcome.results[1:] == [None, None]


def test_a_pool_elb_does_not_know_fails_its_members(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(Failure(404, {"error_code": "ELB.8904", "error_msg": "pool not found"}))

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", adds(2))

    assert [r.result for r in outcome.results if r] == ["failed", "failed"]
    assert outcome.interrupted is None


def test_a_batch_where_every_member_is_bad_costs_a_bounded_number_of_calls(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(200)
    cloud.bad_addresses = {str(c.address) for c in changes}

    outcome = Executor(elb, RecordingPacer()).send("pool-1", "add", changes)

    assert [r.result for r in outcome.results if r] == ["failed"] * 200
    assert cloud.calls["elb.batch_add"] <= 40
    assert cloud.pools["pool-1"] == []
