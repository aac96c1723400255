from __future__ import annotations

import json

from elbsync.elb import ElbClient, MemberRef, MemberUpdate, NewMember
from elbsync.executor import Change, Executor, PoolWrite

from tests.unit.clients.fake_cloud import FakeCloud


def adds(count: int, start: int = 0) -> tuple[Change, ...]:
    changes = []
    for n in range(start, start + count):
        address = f"10.2.{n // 250}.{n % 250 + 1}"
        member = NewMember(address=address, protocol_port=80, name=f"elbsync:{address}")
        changes.append(Change("add", member, address=address, protocol_port=80))
    return tuple(changes)


def test_450_additions_take_three_calls(elb: ElbClient, cloud: FakeCloud) -> None:
    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", adds(450))])

    assert cloud.calls["elb.batch_add"] == 3
    assert [o.result for o in outcomes] == ["added"] * 450
    assert len(cloud.pools["pool-1"]) == 450


def test_one_bad_member_is_isolated_and_the_rest_are_applied(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(200)
    cloud.bad_addresses = {str(changes[137].address)}

    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", changes)])

    failed = [o for o in outcomes if o.result == "failed"]
    assert [o.address for o in failed] == [changes[137].address]
    assert failed[0].error is not None
    assert failed[0].error["error_code"] == "ELB.8902"
    assert len(cloud.pools["pool-1"]) == 199
    assert cloud.calls["elb.batch_add"] <= 2 * 8 + 1  # halving: about 2 calls per level


def test_two_bad_members_in_different_halves_are_both_isolated(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(50)
    cloud.bad_addresses = {str(changes[3].address), str(changes[40].address)}

    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", changes)])

    assert sorted(str(o.address) for o in outcomes if o.result == "failed") == sorted(
        cloud.bad_addresses
    )
    assert len(cloud.pools["pool-1"]) == 48


def test_re_adding_reports_existed(elb: ElbClient, cloud: FakeCloud) -> None:
    executor = Executor(elb)
    executor.apply([PoolWrite("pool-1", "lb-1", adds(3))])

    again = executor.apply([PoolWrite("pool-1", "lb-1", adds(3))])

    assert [o.result for o in again] == ["existed"] * 3
    assert len(cloud.pools["pool-1"]) == 3


def test_updates_carry_their_label_and_deletes_report_not_found(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.add_members("pool-1", 2)
    first, second = (str(m["id"]) for m in cloud.pools["pool-1"])
    changes = (
        Change("update", MemberUpdate(id=first, weight=0), label="draining"),
        Change("update", MemberUpdate(id=second, weight=9), label="reweighted"),
        Change("delete", MemberRef(id="gone"), address="10.9.9.9", protocol_port=80),
    )

    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", changes)])

    assert [(o.result, o.weight) for o in outcomes] == [
        ("draining", 0),
        ("reweighted", 9),
        ("not_found", None),
    ]
    assert [m["weight"] for m in cloud.pools["pool-1"]] == [0, 9]


def test_deletes_by_id_and_by_address_go_in_separate_calls(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.add_members("pool-1", 2)
    first = cloud.pools["pool-1"][0]
    second = cloud.pools["pool-1"][1]
    changes = (
        Change("delete", MemberRef(id=str(first["id"]))),
        Change(
            "delete",
            MemberRef(address=str(second["address"]), protocol_port=80),
            address=str(second["address"]),
            protocol_port=80,
        ),
    )

    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", changes)])

    assert [o.result for o in outcomes] == ["deleted", "deleted"]
    bodies = [json.loads(r.content)["members"] for r in cloud.requests]
    assert [list(body[0]) for body in bodies] == [["id"], ["address", "protocol_port"]]
    assert cloud.pools["pool-1"] == []


def test_pools_of_one_load_balancer_are_written_one_call_at_a_time(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.delay_s = 0.02
    cloud.pool_group = {"pool-1": "lb-1", "pool-2": "lb-1"}

    Executor(elb).apply(
        [PoolWrite("pool-1", "lb-1", adds(300)), PoolWrite("pool-2", "lb-1", adds(300))]
    )

    assert cloud.peak["lb-1"] == 1
    assert len(cloud.pools["pool-1"]) == len(cloud.pools["pool-2"]) == 300


def test_pools_of_different_load_balancers_are_written_in_parallel(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.delay_s = 0.05
    cloud.pool_group = {"pool-1": "lb-1", "pool-2": "lb-2"}

    outcomes = Executor(elb).apply(
        [PoolWrite("pool-1", "lb-1", adds(400)), PoolWrite("pool-2", "lb-2", adds(400))]
    )

    assert cloud.peak["*"] == 2
    assert [o.pool_id for o in outcomes] == ["pool-1"] * 400 + ["pool-2"] * 400


def test_a_batch_where_every_member_is_bad_costs_a_bounded_number_of_calls(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    changes = adds(200)
    cloud.bad_addresses = {str(c.address) for c in changes}

    outcomes = Executor(elb).apply([PoolWrite("pool-1", "lb-1", changes)])

    assert [o.result for o in outcomes] == ["failed"] * 200
    assert cloud.calls["elb.batch_add"] <= 40
    assert cloud.pools["pool-1"] == []
