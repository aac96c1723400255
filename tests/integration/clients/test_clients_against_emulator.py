"""The API clients over real HTTP against the emulator: every operation, its errors, its faults.

Assertions use what the emulator received (its call counters and state), not what the client
believes it sent.
"""

from __future__ import annotations

import time

import httpx
import pytest
from elbsync.clients.autoscaling import AutoScalingClient
from elbsync.clients.ecs import EcsClient
from elbsync.clients.elb import ElbClient, MemberRef, MemberUpdate, NewMember
from elbsync.deadline import Deadline
from elbsync.errors import (
    AuthError,
    BadRequestError,
    NoAnswerError,
    NotFoundError,
    QuotaError,
    ThrottledError,
)
from elbsync.http.auth.sdk_hmac import AkSkAuth, TokenAuth
from elbsync.http.retry import RetryPolicy
from elbsync.http.session import ApiSession, new_client

from tests.fixtures.emulator import EmulatorHandle

#: One client for the module, as a function instance keeps one.
CLIENT = new_client()


def session(
    emulator: EmulatorHandle, *, seconds: float = 30.0, auth: httpx.Auth | None = None
) -> ApiSession:
    return ApiSession(
        auth=auth
        or AkSkAuth(emulator.access_key, emulator.secret_key, project_id=emulator.project_id),
        deadline=Deadline.after(seconds),
        client=CLIENT,
        policy=RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0),
    )


def elb_client(
    emulator: EmulatorHandle, *, seconds: float = 30.0, auth: httpx.Auth | None = None
) -> ElbClient:
    return ElbClient(
        session(emulator, seconds=seconds, auth=auth),
        endpoint=emulator.base_url,
        project_id=emulator.project_id,
    )


def new_members(emulator: EmulatorHandle, count: int, port: int = 80) -> list[NewMember]:
    subnet = emulator.subnet_id("subnet-app")
    return [
        NewMember(
            address=f"192.168.1.{20 + n}", protocol_port=port, subnet_cidr_id=subnet, weight=3
        )
        for n in range(count)
    ]


def test_add_list_update_and_delete_round_trip(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-static")

    added = elb.batch_add(pool, new_members(emulator, 3, port=8081))
    listed = elb.list_members(pool, page_size=2)
    updated = elb.batch_update(pool, [MemberUpdate(id=str(added[0].id), weight=0)])
    deleted = elb.batch_delete(pool, [MemberRef(id=str(m.id)) for m in added])

    assert [r.ret_status for r in added] == ["successful"] * 3
    assert sorted(m.address for m in listed) == ["192.168.1.20", "192.168.1.21", "192.168.1.22"]
    assert emulator.calls()["elb.list_members"] == 2  # pages of 2 members
    assert updated[0].weight == 0
    assert [r.ret_status for r in deleted] == ["successful"] * 3
    assert emulator.pool_members(pool) == []


def test_450_members_go_in_three_batch_calls(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-static")
    subnet = emulator.subnet_id("subnet-app")
    members = [
        NewMember(address="192.168.1.30", protocol_port=1000 + n, subnet_cidr_id=subnet)
        for n in range(450)
    ]

    results = elb.batch_add(pool, members)

    assert len(results) == 450
    assert emulator.calls()["elb.batch_add"] >= 3
    assert len(emulator.pool_members(pool)) == 450
    assert len(elb.list_members(pool)) == 450


def test_filters_reach_the_emulator(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-web")

    members = elb.list_members(pool, address=["192.168.1.11"], protocol_port=80)

    assert [m.name for m in members] == ["web-2"]


def test_re_adding_is_existed_and_deleting_twice_is_not_found(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-static")
    first = elb.batch_add(pool, new_members(emulator, 1, port=8081))

    again = elb.batch_add(pool, new_members(emulator, 1, port=8081))
    elb.batch_delete(pool, [MemberRef(id=str(first[0].id))])
    twice = elb.batch_delete(pool, [MemberRef(id=str(first[0].id))])

    assert again[0].ret_status == "existed"
    assert twice[0].ret_status == "not found"


def test_an_address_outside_its_subnet_is_a_typed_400_with_request_id(
    emulator: EmulatorHandle,
) -> None:
    elb = elb_client(emulator)
    bad = NewMember(
        address="10.9.0.5", protocol_port=80, subnet_cidr_id=emulator.subnet_id("subnet-app")
    )

    with pytest.raises(BadRequestError) as info:
        elb.batch_add(emulator.pool_id("pool-static"), [bad])

    assert info.value.error_code is not None
    assert info.value.request_id
    assert emulator.calls()["elb.batch_add"] == 1  # never retried


def test_the_member_quota_is_a_quota_error(emulator_factory: object) -> None:
    from tests.fixtures.emulator import default_world_document

    document = default_world_document()
    document["behaviour"]["member_quota"] = 2
    emulator = emulator_factory(document)  # type: ignore[operator]
    elb = elb_client(emulator)

    with pytest.raises(QuotaError) as info:
        elb.batch_add(emulator.pool_id("pool-static"), new_members(emulator, 3, port=8081))
    assert info.value.error_code == "ELB.8905"


def test_a_busy_load_balancer_is_waited_out(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-static")

    elb.batch_add(pool, new_members(emulator, 1, port=8081))
    elb.batch_add(pool, new_members(emulator, 2, port=8081))  # the balancer is busy for 0.5 s

    assert emulator.calls()["elb.batch_add"] >= 3
    assert len(emulator.pool_members(pool)) == 2


def test_check_jobs_are_created_and_shown_and_unknown_ones_are_not_found(
    emulator: EmulatorHandle,
) -> None:
    elb = elb_client(emulator)
    member = emulator.pool_members(emulator.pool_id("pool-web"))[0]

    job_id = elb.create_check_job(member["id"], emulator.listener_id("listener-http"))
    job = elb.show_check_job(job_id)

    assert job.status in ("processing", "processed")
    with pytest.raises(NotFoundError):
        elb.show_check_job("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "throttle"},
        {"kind": "error", "status": 503},
        {"kind": "error", "status": 500},
        {"kind": "drop"},
    ],
    ids=["throttled", "unavailable", "server-error", "dropped-connection"],
)
def test_injected_faults_are_retried_and_the_write_lands_once(
    emulator: EmulatorHandle, fault: dict[str, object]
) -> None:
    emulator.add_fault(operation="elb.batch_add", next_calls=2, **fault)
    elb = elb_client(emulator)
    pool = emulator.pool_id("pool-static")

    results = elb.batch_add(pool, new_members(emulator, 1, port=8081))

    assert emulator.calls()["elb.batch_add"] == 3
    assert [r.ret_status for r in results] in (["successful"], ["existed"])
    assert len(emulator.pool_members(pool)) == 1


def test_retries_give_up_before_the_deadline(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="throttle")
    elb = elb_client(emulator, seconds=1.5)
    started = time.monotonic()

    with pytest.raises(ThrottledError) as info:
        elb.list_members(emulator.pool_id("pool-web"))

    # Without the deadline, ten attempts with waits of up to 1 s would take several seconds;
    # the bound leaves room for a slow machine, not for another retry.
    assert time.monotonic() - started < 2.5
    assert info.value.error_code == "APIG.0308"


def test_added_latency_beyond_the_deadline_is_a_transport_error(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="latency", latency_ms=3000)
    elb = elb_client(emulator, seconds=1.0)

    with pytest.raises((NoAnswerError, ThrottledError)):
        elb.list_members(emulator.pool_id("pool-web"))


def test_a_wrong_secret_is_refused_as_unauthorised(emulator: EmulatorHandle) -> None:
    auth = AkSkAuth(emulator.access_key, "not-the-secret", project_id=emulator.project_id)
    elb = elb_client(emulator, auth=auth)

    with pytest.raises(AuthError) as info:
        elb.list_members(emulator.pool_id("pool-web"))
    assert info.value.status in (401, 403)


def test_an_iam_token_works_like_a_signature(emulator: EmulatorHandle) -> None:
    elb = elb_client(emulator, auth=TokenAuth(emulator.iam_token))

    assert len(elb.list_members(emulator.pool_id("pool-web"))) == 2


def test_lifecycle_actions_are_listed_and_completed(emulator: EmulatorHandle) -> None:
    group = emulator.scaling_group_id("asg-web")
    launched = emulator.admin("POST", f"autoscaling/groups/{group}/launch", {"count": 1})
    instance_id = launched["instances"][0]["instance_id"]
    autoscaling = AutoScalingClient(
        session(emulator), endpoint=emulator.base_url, project_id=emulator.project_id
    )

    (hanging,) = autoscaling.list_hanging_instances(group, instance_id=instance_id)
    autoscaling.complete_lifecycle_action(
        group, "CONTINUE", action_key=str(hanging.lifecycle_action_key)
    )

    assert autoscaling.list_hanging_instances(group, instance_id=instance_id) == []
    with pytest.raises(BadRequestError):  # no longer hanging
        autoscaling.complete_lifecycle_action(
            group, "CONTINUE", instance_id=instance_id, hook_name=str(hanging.lifecycle_hook_name)
        )


def test_ecs_gives_an_instances_address_and_subnet(emulator: EmulatorHandle) -> None:
    ecs = EcsClient(session(emulator), endpoint=emulator.base_url, project_id=emulator.project_id)

    (interface,) = ecs.interfaces(emulator.server_id("web-1"))

    ip = interface.ipv4()
    assert ip is not None
    assert (ip.ip_address, ip.subnet_id) == ("192.168.1.10", emulator.subnet_id("subnet-app"))
    with pytest.raises(NotFoundError):
        ecs.interfaces("00000000-0000-4000-8000-000000000000")
