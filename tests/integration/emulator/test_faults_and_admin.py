"""Fault injection, call counts, the snapshot, reset and the virtual clock."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle, default_world_document

pytestmark = pytest.mark.integration


def _list(emulator: EmulatorHandle) -> httpx.Response:
    return emulator.client().get(emulator.members_path(emulator.pool_id("pool-web")))


def test_a_throttle_fault_answers_429_apig_0308_for_the_next_calls_only(
    emulator: EmulatorHandle,
) -> None:
    emulator.add_fault(operation="elb.list_members", kind="throttle", next_calls=2)
    statuses = [_list(emulator).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    emulator.add_fault(operation="elb.list_members", kind="throttle", next_calls=1)
    body = _list(emulator).json()
    assert body["error_code"] == "APIG.0308"
    assert len(body["request_id"]) == 32


def test_a_fault_only_hits_its_operation(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.batch_add", kind="error", status=503)
    assert _list(emulator).status_code == 200


def test_an_error_fault_answers_in_the_services_error_shape(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="*", kind="error", status=500, next_calls=2)
    elb = _list(emulator)
    assert elb.status_code == 500
    assert set(elb.json()) == {"error_code", "error_msg", "request_id"}
    path = f"/v1/{emulator.project_id}/cloudservers/{emulator.server_id('web-1')}/os-interface"
    ecs = emulator.client().get(path)
    assert ecs.status_code == 500
    assert set(ecs.json()) == {"error"}


def test_a_503_fault_can_advise_a_retry_after(emulator: EmulatorHandle) -> None:
    emulator.add_fault(
        operation="elb.list_members", kind="error", status=503, next_calls=1, retry_after_s=2
    )
    response = _list(emulator)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"


def test_a_drop_fault_closes_the_connection_without_a_reply(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="drop", next_calls=1)
    with pytest.raises(httpx.TransportError):
        _list(emulator)
    assert _list(emulator).status_code == 200
    log = emulator.admin("GET", "requests")["requests"]
    assert [entry["dropped"] for entry in log] == [True, False]


def test_a_latency_fault_delays_the_reply(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="latency", latency_ms=300, next_calls=1)
    started = time.monotonic()
    assert _list(emulator).status_code == 200
    slow = time.monotonic() - started
    started = time.monotonic()
    assert _list(emulator).status_code == 200
    fast = time.monotonic() - started
    assert slow >= 0.3
    assert fast < 0.3


def test_after_calls_lets_the_first_calls_through(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="throttle", after_calls=2, next_calls=1)
    assert [_list(emulator).status_code for _ in range(4)] == [200, 200, 429, 200]


def test_a_rate_fires_on_about_that_share_of_calls_and_repeats_with_the_seed(
    emulator: EmulatorHandle,
) -> None:
    def run() -> list[int]:
        emulator.admin("POST", "reset")
        emulator.add_fault(operation="elb.list_members", kind="throttle", rate=0.5)
        return [_list(emulator).status_code for _ in range(40)]

    first = run()
    assert 8 <= first.count(429) <= 32
    assert run() == first


def test_a_zero_rate_never_fires(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="*", kind="error", rate=0.0)
    assert {_list(emulator).status_code for _ in range(5)} == {200}


def test_faults_can_come_from_the_world_file(emulator_factory: Any) -> None:
    document = default_world_document()
    document["faults"] = [{"operation": "elb.list_members", "kind": "throttle", "next_calls": 1}]
    custom: EmulatorHandle = emulator_factory(document)
    assert [_list(custom).status_code for _ in range(2)] == [429, 200]


def test_calls_are_counted_per_operation_including_failed_ones(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="elb.list_members", kind="throttle", next_calls=1)
    _list(emulator)
    _list(emulator)
    httpx.get(emulator.base_url + emulator.members_path("x"), timeout=10.0)
    counts = emulator.calls()
    assert counts["elb.list_members"] == 3
    assert counts["elb.batch_add"] == 0
    assert set(counts) >= {
        "elb.list_members",
        "elb.batch_add",
        "elb.batch_update",
        "elb.batch_delete",
        "elb.create_check_job",
        "elb.show_check_job",
        "as.callback",
        "as.list_hanging",
        "ecs.list_interfaces",
    }
    emulator.admin("DELETE", "calls")
    assert emulator.calls()["elb.list_members"] == 0


def test_admin_calls_are_never_counted(emulator: EmulatorHandle) -> None:
    emulator.snapshot()
    emulator.admin("GET", "faults")
    assert emulator.admin("GET", "calls")["total"] == 0


def test_faults_are_listed_with_their_counters_and_can_be_removed(emulator: EmulatorHandle) -> None:
    rule = emulator.add_fault(operation="elb.list_members", kind="throttle", next_calls=1)
    _list(emulator)
    listed = emulator.admin("GET", "faults")["faults"]
    assert listed == [{**rule, "matched": 1, "fired": 1, "active": False}]
    emulator.add_fault(operation="elb.list_members", kind="throttle")
    assert emulator.admin("DELETE", "faults")["removed"] == 2
    assert _list(emulator).status_code == 200


def test_an_invalid_fault_is_refused_with_400(emulator: EmulatorHandle) -> None:
    response = httpx.post(
        emulator.base_url + "/_emulator/faults", json={"kind": "explode"}, timeout=10.0
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_the_snapshot_shows_every_pool_and_member(emulator: EmulatorHandle) -> None:
    snapshot = emulator.snapshot()
    pools = {pool["name"]: pool for pool in snapshot["pools"]}
    assert set(pools) == {"pool-web", "pool-api", "pool-static", "pool-protected", "pool-dns"}
    assert [m["address"] for m in pools["pool-web"]["members"]] == ["192.168.1.10", "192.168.1.11"]
    assert pools["pool-web"]["load_balancer_id"] == emulator.load_balancer_id("lb-web")
    assert pools["pool-web"]["busy_until"] is None


def test_reset_restores_the_world_file(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    emulator.client().post(
        emulator.members_path(pool, "batch-delete"),
        json={"members": [{"address": "192.168.1.10", "protocol_port": 80}]},
    )
    emulator.add_fault(operation="*", kind="latency", latency_ms=1)
    emulator.advance(100)
    emulator.admin("POST", "reset")
    assert len(emulator.pool_members(pool)) == 2
    assert emulator.admin("GET", "faults")["faults"] == []
    assert emulator.admin("GET", "clock")["offset_s"] == 0
    assert emulator.calls()["elb.batch_delete"] == 0


def test_reset_can_load_another_world(emulator: EmulatorHandle) -> None:
    document = default_world_document()
    document["load_balancers"][0]["pools"][0]["members"] = []
    emulator.admin("POST", "reset", {"world": document})
    assert emulator.pool_members(emulator.pool_id("pool-web")) == []


def test_the_virtual_clock_only_moves_forward(emulator: EmulatorHandle) -> None:
    before = emulator.admin("GET", "clock")["epoch"]
    after = emulator.admin("POST", "clock/advance", {"seconds": 3600})["epoch"]
    assert after - before >= 3600
    response = httpx.post(
        emulator.base_url + "/_emulator/clock/advance", json={"seconds": -1}, timeout=10.0
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/_emulator/nothing", 404), ("GET", "/_emulator/reset", 405)],
    ids=["unknown path", "wrong method"],
)
def test_unknown_admin_requests_are_refused(
    emulator: EmulatorHandle, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, emulator.base_url + path, timeout=10.0)
    assert response.status_code == status


def test_admin_changes_to_unknown_things_are_404(emulator: EmulatorHandle) -> None:
    for path, body in [
        ("/_emulator/servers/nope/stop", {}),
        ("/_emulator/load_balancers/nope/busy", {"seconds": 1}),
        ("/_emulator/autoscaling/groups/nope/launch", {"count": 1}),
    ]:
        assert httpx.post(emulator.base_url + path, json=body, timeout=10.0).status_code == 404


def _add_one(emulator: EmulatorHandle, client: httpx.Client, address: str) -> httpx.Response:
    member = {
        "address": address,
        "protocol_port": 8080,
        "subnet_cidr_id": emulator.subnet_id("subnet-app"),
    }
    path = emulator.members_path(emulator.pool_id("pool-web"), "batch-add")
    return client.post(path, json={"members": [member]})


def _addresses(emulator: EmulatorHandle) -> set[str]:
    return {m["address"] for m in _list(emulator).json()["members"]}


def test_a_lost_reply_applies_the_write_and_closes_the_connection(
    emulator: EmulatorHandle,
) -> None:
    emulator.add_fault(operation="elb.batch_add", kind="lose_reply", next_calls=1)
    with pytest.raises(httpx.TransportError):
        _add_one(emulator, emulator.client(), "192.168.1.201")
    assert "192.168.1.201" in _addresses(emulator)
    log = emulator.admin("GET", "requests")["requests"]
    assert [entry["reply_lost"] for entry in log] == [True, False]
    # The caller's retry learns the member is there already.
    emulator.advance(5)
    again = _add_one(emulator, emulator.client(), "192.168.1.201")
    assert again.status_code in (200, 201)
    assert again.json()["members"][0]["ret_status"] == "existed"


def test_a_slow_reply_applies_the_write_and_answers_after_the_callers_timeout(
    emulator: EmulatorHandle,
) -> None:
    emulator.add_fault(operation="elb.batch_add", kind="slow_reply", latency_ms=600, next_calls=1)
    impatient = emulator.client(timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        _add_one(emulator, impatient, "192.168.1.202")
    assert "192.168.1.202" in _addresses(emulator)


def test_a_lost_reply_hides_a_refusal_too(emulator: EmulatorHandle) -> None:
    emulator.add_fault(operation="as.callback", kind="lose_reply", next_calls=1)
    path = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook/nope/callback"
    body = {"lifecycle_action_result": "CONTINUE", "lifecycle_action_key": "k"}
    with pytest.raises(httpx.TransportError):
        emulator.client().put(path, json=body)
    assert emulator.client().put(path, json=body).status_code >= 400
