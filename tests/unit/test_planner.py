"""The desired-state planner, table-tested: inputs in, named plan groups out."""

from __future__ import annotations

import pytest
from elbsync.clients.elb import Member
from elbsync.inbound.deployments import Endpoint, MemberSpec, WeightSpec
from elbsync.members.planner import (
    Guards,
    plan_desired,
    plan_register,
    plan_removal,
    plan_weights,
)


def member(host: int, *, weight: int = 1, status: str = "ONLINE", mine: bool = True) -> Member:
    return Member(
        id=f"m-{host}",
        address=f"10.0.0.{host}",
        protocol_port=80,
        weight=weight,
        operating_status=status,
        name=f"elbsync:web-{host}" if mine else f"manual-{host}",
    )


def spec(host: int, weight: int | None = None) -> MemberSpec:
    return MemberSpec(address=f"10.0.0.{host}", protocol_port=80, weight=weight)


def hosts(members: tuple[Member, ...] | tuple[MemberSpec, ...]) -> list[int]:
    return [int(m.address.rsplit(".", 1)[1]) for m in members]


DESIRED_CASES = [
    pytest.param(
        [spec(1), spec(2)], [], Guards(), ([1, 2], [], [], [], []), id="empty-pool-adds-all"
    ),
    pytest.param(
        [spec(1)], [member(1)], Guards(), ([], [], [], [1], []), id="in-step-changes-nothing"
    ),
    pytest.param(
        [spec(1, 10)],
        [member(1, weight=1)],
        Guards(),
        ([], [1], [], [], []),
        id="weight-differs-reweights",
    ),
    pytest.param(
        [spec(1), spec(2)],
        [member(1), member(2), member(3), member(4)],
        Guards(),
        ([], [], [3, 4], [1, 2], []),
        id="extra-owned-members-are-removed",
    ),
    pytest.param(
        [spec(1)],
        [member(1), member(2, mine=False)],
        Guards(),
        ([], [], [], [1], [2]),
        id="foreign-member-is-not-removed",
    ),
    pytest.param(
        [spec(1)],
        [member(1), member(2, mine=False)],
        Guards(adopt=True),
        ([], [], [2], [1], []),
        id="adopt-removes-foreign-member",
    ),
    pytest.param(
        [spec(1)],
        [member(1), member(2), member(3), member(4)],
        Guards(max_remove_share=0.5),
        ([], [], [], [1], [2, 3, 4]),
        id="too-large-a-share-refuses-every-removal",
    ),
    pytest.param(
        [spec(1)],
        [member(1), member(2), member(3), member(4)],
        Guards(max_remove_share=0.5, force=True),
        ([], [], [2, 3, 4], [1], []),
        id="force-lifts-the-share-limit",
    ),
    pytest.param(
        [spec(5)],
        [member(1), member(2, status="OFFLINE")],
        Guards(max_remove_share=1.0),
        ([5], [], [2], [], [1]),
        id="last-online-member-is-kept",
    ),
    pytest.param(
        [spec(5)],
        [member(1), member(2, status="OFFLINE")],
        Guards(max_remove_share=1.0, force=True),
        ([5], [], [1, 2], [], []),
        id="force-removes-the-last-online-member",
    ),
    pytest.param(
        [],
        [member(1, status="OFFLINE"), member(2, status="OFFLINE")],
        Guards(max_remove_share=1.0),
        ([], [], [1, 2], [], []),
        id="offline-members-can-all-go",
    ),
    pytest.param(
        [spec(3)],
        [member(2), member(1)],
        Guards(max_remove_share=1.0, force=True),
        ([3], [], [1, 2], [], []),
        id="groups-come-out-in-stable-order",
    ),
]


@pytest.mark.parametrize(("desired", "actual", "guards", "expected"), DESIRED_CASES)
def test_desired_state_plans(
    desired: list[MemberSpec],
    actual: list[Member],
    guards: Guards,
    expected: tuple[list[int], list[int], list[int], list[int], list[int]],
) -> None:
    plan = plan_desired(desired, actual, guards)

    got = (
        hosts(plan.add),
        hosts(tuple(r.member for r in plan.reweight)),
        hosts(plan.remove),
        hosts(plan.keep),
        hosts(tuple(r.member for r in plan.refused)),
    )
    assert got == expected


def test_unspecified_weight_means_the_default_weight() -> None:
    plan = plan_desired([spec(1)], [member(1, weight=7)], Guards(), default_weight=3)

    assert [(r.member.id, r.weight) for r in plan.reweight] == [("m-1", 3)]


def test_a_refusal_says_why() -> None:
    plan = plan_desired([], [member(1, mine=False)], Guards())

    assert "adopt" in plan.refused[0].reason


def test_register_adds_only_what_is_missing() -> None:
    plan = plan_register([spec(1), spec(2)], [member(2, weight=9)])

    assert hosts(plan.add) == [1]
    assert hosts(plan.keep) == [2]
    assert plan.reweight == ()


def test_weights_reweight_known_members_and_report_unknown_ones() -> None:
    weights = [
        WeightSpec(address="10.0.0.1", protocol_port=80, weight=0),
        WeightSpec(address="10.0.0.2", protocol_port=80, weight=1),
        WeightSpec(address="10.0.0.9", protocol_port=80, weight=50),
    ]

    plan = plan_weights(weights, [member(1, weight=5), member(2, weight=1)])

    assert [(r.member.id, r.weight) for r in plan.reweight] == [("m-1", 0)]
    assert hosts(plan.keep) == [2]
    assert [e.address for e in plan.missing] == ["10.0.0.9"]


def test_removal_goes_through_the_same_guards() -> None:
    targets = [Endpoint(address=f"10.0.0.{n}", protocol_port=80) for n in (1, 2, 7)]
    actual = [member(1), member(2, mine=False), member(3)]

    plan = plan_removal(targets, actual, Guards())

    assert hosts(plan.remove) == [1]
    assert hosts(tuple(r.member for r in plan.refused)) == [2]
    assert [e.address for e in plan.missing] == ["10.0.0.7"]
    assert plan.keep == ()  # members the event did not name are not part of its answer


def test_the_summary_lists_every_group_as_plain_data() -> None:
    plan = plan_desired([spec(1, 5), spec(3)], [member(1), member(2)], Guards())

    assert plan.summary() == {
        "add": [{"member": "10.0.0.3:80", "weight": None}],
        "reweight": [{"member": "10.0.0.1:80", "from": 1, "to": 5}],
        "remove": ["10.0.0.2:80"],
        "keep": [],
        "refused": [],
        "missing": [],
    }
    assert plan.changes == 3
