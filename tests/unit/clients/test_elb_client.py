from __future__ import annotations

import json

import httpx
import pytest
from elbsync.clients.elb import ElbClient, MemberRef, MemberUpdate, NewMember
from elbsync.errors import BadRequestError, InputError, NotFoundError

from tests.unit.clients.fake_cloud import FakeCloud


def new_members(count: int, port: int = 8080) -> list[NewMember]:
    return [
        NewMember(address=f"10.1.{n // 250}.{n % 250 + 1}", protocol_port=port, weight=5)
        for n in range(count)
    ]


def test_listing_follows_markers_until_the_last_page(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.add_members("pool-1", 5)

    members = elb.list_members("pool-1", page_size=2)

    assert [m.id for m in members] == [m["id"] for m in cloud.pools["pool-1"]]
    assert cloud.calls["elb.list_members"] == 3
    markers = [r.url.params.get("marker") for r in cloud.requests]
    assert markers == [None, cloud.pools["pool-1"][1]["id"], cloud.pools["pool-1"][3]["id"]]


def test_listing_sends_repeatable_filters_once_per_value(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.add_members("pool-1", 4)

    members = elb.list_members("pool-1", address=["10.0.0.2", "10.0.0.4"])

    assert sorted(m.address for m in members) == ["10.0.0.2", "10.0.0.4"]
    assert cloud.requests[0].url.params.get_list("address") == ["10.0.0.2", "10.0.0.4"]


def test_adding_450_members_takes_three_calls_of_at_most_200(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    results = elb.batch_add("pool-1", new_members(450))

    sizes = [len(json.loads(r.content)["members"]) for r in cloud.requests]
    assert sizes == [200, 200, 50]
    assert len(cloud.pools["pool-1"]) == 450
    assert len(results) == 450
    assert {r.ret_status for r in results} == {"successful"}


def test_adding_existing_members_reports_existed_without_duplicates(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    elb.batch_add("pool-1", new_members(3))

    again = elb.batch_add("pool-1", new_members(3))

    assert [r.ret_status for r in again] == ["existed"] * 3
    assert len(cloud.pools["pool-1"]) == 3


def test_optional_fields_left_unset_are_not_sent(elb: ElbClient, cloud: FakeCloud) -> None:
    elb.batch_add("pool-1", [NewMember(address="10.0.0.9", protocol_port=80)])

    assert json.loads(cloud.requests[0].content) == {
        "members": [{"address": "10.0.0.9", "protocol_port": 80}]
    }


def test_updating_weights_changes_what_the_pool_holds(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.add_members("pool-1", 2)
    first = str(cloud.pools["pool-1"][0]["id"])

    results = elb.batch_update("pool-1", [MemberUpdate(id=first, weight=0)])

    assert results[0].weight == 0
    assert cloud.pools["pool-1"][0]["weight"] == 0
    assert cloud.pools["pool-1"][1]["weight"] == 1


def test_deleting_a_missing_member_counts_as_not_found(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.add_members("pool-1", 1)
    present = str(cloud.pools["pool-1"][0]["id"])

    results = elb.batch_delete("pool-1", [MemberRef(id=present), MemberRef(id="gone")])

    assert [r.ret_status for r in results] == ["successful", "not found"]
    assert cloud.pools["pool-1"] == []


def test_deleting_by_id_and_by_address_in_one_batch_is_refused_before_any_call(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    refs = [MemberRef(id="m-1"), MemberRef(address="10.0.0.1", protocol_port=80)]

    with pytest.raises(InputError, match="not both"):
        elb.batch_delete("pool-1", refs)
    assert cloud.requests == []


def test_a_check_job_is_created_and_shown(elb: ElbClient, cloud: FakeCloud) -> None:
    job_id = elb.create_check_job("member-1", "listener-1")

    job = elb.show_check_job(job_id)

    assert job.job_id == job_id
    assert job.status == "processing"
    assert job.member_id == "member-1"
    assert json.loads(cloud.requests[0].content) == {
        "member_check": {"listener_id": "listener-1", "subject": "all"}
    }


def test_an_unknown_check_job_is_a_typed_not_found(elb: ElbClient) -> None:
    with pytest.raises(NotFoundError) as info:
        elb.show_check_job("no-such-job")
    assert info.value.error_code == "ELB.8904"


@pytest.mark.parametrize(
    "bad_id",
    ["../pools", "a/b", "..", "pool\n1", "pool 1", "", "x" * 200, "%2e%2e"],
    ids=["dotdot-prefix", "slash", "dotdot", "newline", "space", "empty", "too-long", "encoded"],
)
def test_ids_that_could_escape_the_path_are_refused_before_sending(
    elb: ElbClient, cloud: FakeCloud, bad_id: str
) -> None:
    with pytest.raises(InputError):
        elb.list_members(bad_id)
    assert cloud.requests == []


def test_requests_are_signed(elb: ElbClient, cloud: FakeCloud) -> None:
    elb.list_members("pool-1")

    authorization = cloud.requests[0].headers["Authorization"]
    assert authorization.startswith("SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=")
    assert "x-sdk-date" in authorization


def test_a_400_reply_carries_code_message_and_request_id(elb: ElbClient, cloud: FakeCloud) -> None:
    from tests.unit.clients.fake_cloud import Failure

    cloud.fail_next(
        Failure(400, {"error_code": "ELB.8902", "error_msg": "bad port", "request_id": "req-9"})
    )

    with pytest.raises(BadRequestError) as info:
        elb.batch_add("pool-1", new_members(1))

    assert (info.value.status, info.value.error_code, info.value.error_msg) == (
        400,
        "ELB.8902",
        "bad port",
    )
    assert info.value.request_id == "req-9"
    assert cloud.calls["elb.batch_add"] == 1


def test_a_read_that_breaks_off_is_retried(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(httpx.ReadError("boom"))
    cloud.fail_next(httpx.ReadError("boom"))
    cloud.add_members("pool-1", 1)

    assert len(elb.list_members("pool-1")) == 1
    assert cloud.calls["elb.list_members"] == 3
