"""Value types that know themselves: a member's identity in its pool, whether it serves, and
whether a check finding blocks, answered by the types every module shares."""

from __future__ import annotations

import pytest
from elbsync.clients.elb import Member, MemberResult
from elbsync.flows.replies import MemberRow
from elbsync.inbound.deployments import Endpoint
from elbsync.members.endpoint import endpoint_key
from elbsync.state.records import CheckFinding, MemberChange, WaitedMember


def test_every_model_of_a_member_names_it_by_the_same_key() -> None:
    expected = ("10.0.0.7", 8080)
    models = [
        Member(id="m-1", address="10.0.0.7", protocol_port=8080),
        MemberResult(address="10.0.0.7", protocol_port=8080),
        MemberChange(op="delete", address="10.0.0.7", protocol_port=8080),
        WaitedMember(pool_id="p", address="10.0.0.7", protocol_port=8080),
        MemberRow(pool_id="p", result="added", address="10.0.0.7", protocol_port=8080),
        Endpoint(address="10.0.0.7", protocol_port=8080),
    ]

    assert {model.key for model in models} == {expected}


def test_a_port_elb_did_not_report_counts_as_zero() -> None:
    assert Member(id="m-1", address="10.0.0.7").key == ("10.0.0.7", 0)
    assert endpoint_key(None, None) == ("", 0)


@pytest.mark.parametrize(
    ("status", "serving"),
    [("ONLINE", True), ("NO_MONITOR", True), ("OFFLINE", False), ("UNKNOWN", False)],
)
def test_a_member_serves_when_elb_sends_it_traffic(status: str, serving: bool) -> None:
    assert Member(id="m-1", address="10.0.0.7", operating_status=status).serving is serving


def test_serving_on_a_listener_reads_that_listener_first() -> None:
    member = Member(
        id="m-1",
        address="10.0.0.7",
        operating_status="ONLINE",
        status=[{"listener_id": "l-2", "operating_status": "OFFLINE"}],
    )

    assert member.serving_on("l-1") is True  # not listed: the member-wide status
    assert member.serving_on("l-2") is False
    assert member.serving_on(None) is True


def test_only_a_major_finding_blocks() -> None:
    assert CheckFinding(group="config", reason="port closed", severity="Major").blocks
    assert not CheckFinding(group="config", reason="advice", severity="Tips").blocks
