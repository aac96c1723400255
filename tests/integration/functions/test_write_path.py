"""The write path under the conditions the cloud produces: bursts of concurrent invocations
against one busy load balancer, throttling, a lease holder that dies, large declarations
over several balancers, redeliveries after transient failures, and what it all costs."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from elbsync import runtime
from elbsync.deadline import Deadline
from elbsync.devkit.burst import run_burst
from elbsync.devkit.emulator import World
from elbsync.devkit.local import Cloud, world_running
from elbsync.state import layout
from elbsync.state.directory import DirectoryStore
from elbsync.state.lease import Leases
from elbsync.state.records import CheckJob, LifecycleAction, WriteIntent
from elbsync.state.store import ListPage, StoredObject

from tests.events import load_event
from tests.fixtures.emulator import EmulatorHandle, default_world_document
from tests.integration.functions.conftest import Functions
from tests.integration.functions.test_member_events_scaling import (
    decisions,
    launch_many,
    members_named,
)


class CountingStore(DirectoryStore):
    """The directory backend, recording every call as the request a bucket would get."""

    def __init__(self, root: Path, deadline: Deadline, log: list[tuple[str, str]]) -> None:
        super().__init__(str(root), deadline=deadline)
        self.log = log

    def get(self, key: str, **kwargs: Any) -> StoredObject | None:
        self.log.append(("get", key))
        return super().get(key, **kwargs)

    def put(self, key: str, data: bytes, **kwargs: Any) -> str:
        self.log.append(("put", key))
        return super().put(key, data, **kwargs)

    def create(self, key: str, data: bytes, **kwargs: Any) -> str:
        self.log.append(("create", key))
        return super().create(key, data, **kwargs)

    def delete(self, key: str, **kwargs: Any) -> None:
        self.log.append(("delete", key))
        super().delete(key, **kwargs)

    def list_page(self, prefix: str, **kwargs: Any) -> ListPage:
        self.log.append(("list", prefix))
        return super().list_page(prefix, **kwargs)


@pytest.fixture
def store_log(functions: Functions) -> Iterator[list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    runtime.use_store(lambda deadline: CountingStore(functions.state_dir, deadline, log))
    yield log
    runtime.use_store(None)


# -- bursts ---------------------------------------------------------------------------------


def test_100_concurrent_launches_join_both_pools_in_two_writes_each_and_are_continued(
    tmp_path: Path,
) -> None:
    with world_running() as cloud:
        report = run_burst(cloud, tmp_path, launches=100, concurrency=20)

    assert report.ok(), report.lines()
    assert report.decisions == Counter({"CONTINUE": 100})
    assert report.in_every_pool == 100
    assert report.left_behind == 0
    # Throttled invocations arrive more spread out, so a pool may take one more round.
    assert max(report.writes.values()) <= 3 * report.minimum_writes, report.lines()
    assert report.busy_refusals <= sum(report.writes.values())
    assert report.replies["applied"] + report.replies["queued"] == 100


def test_a_throttled_burst_still_ends_with_every_instance_in_and_continued(
    tmp_path: Path,
) -> None:
    def throttle(cloud: Cloud) -> None:
        cloud.admin("POST", "faults", {"operation": "*", "kind": "throttle", "rate": 0.2})

    with world_running() as cloud:
        report = run_burst(cloud, tmp_path, launches=60, concurrency=20, before=throttle)

    assert report.throttled > 0
    assert report.ok(), report.lines()
    # Throttled invocations arrive more spread out, so a pool may take one more round.
    assert max(report.writes.values()) <= 3 * report.minimum_writes, report.lines()
    assert report.busy_refusals <= sum(report.writes.values())


# -- a holder that dies ---------------------------------------------------------------------


class Killed(BaseException):
    """The platform ending an invocation: no ``finally`` of ours would run in the cloud."""


def test_a_lease_holder_killed_mid_drain_loses_nothing(
    functions: Functions, monkeypatch: pytest.MonkeyPatch
) -> None:
    instances, events = launch_many(functions, 3)
    for event in events[1:]:  # queued while another invocation holds the lease
        lease = Leases(DirectoryStore(str(functions.state_dir), deadline=Deadline.after(30)))
        held = lease.acquire(functions.emulator.load_balancer_id("lb-web"), seconds=5)
        assert held is not None
        reply = functions.invoke("member_events", event)
        assert reply["events"][0]["status"] == "queued"
        lease.release(held, quiet_until=None, pace_s=None)
    # The next holder is killed after its first write: its lease is never given back.
    writes = {"count": 0}
    real_sleep = __import__("time").sleep

    def sleep_then_die(seconds: float) -> None:
        if writes["count"] >= 1:
            raise Killed
        writes["count"] += 1
        real_sleep(seconds)

    monkeypatch.setattr("elbsync.members.writes.time.sleep", sleep_then_die)
    monkeypatch.setattr("elbsync.state.lease.Leases.release", lambda *a, **k: None)
    with pytest.raises(Killed):
        functions.invoke("member_events", events[0])
    monkeypatch.undo()
    functions.env(**functions_env(functions))
    assert functions.emulator.calls()["elb.batch_add"] >= 1
    repo = functions.repository()
    assert list(repo.pending_ids(WriteIntent))  # the rest waits, nothing is lost

    functions.travel(61)  # past the dead holder's lease (its invocation's timeout)
    functions.tick()
    functions.travel(15)
    functions.tick()

    for instance_id in instances:
        name = f"elbsync:as:{instance_id}"
        assert len(members_named(functions, "pool-web", name)) == 1
        assert len(members_named(functions, "pool-api", name)) == 1
    for instance_id in instances[1:]:
        assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    assert list(repo.pending_ids(WriteIntent)) == []


def functions_env(functions: Functions) -> dict[str, str]:
    """The settings the fixture set (restored after ``monkeypatch.undo``)."""
    emulator = functions.emulator
    from tests.integration.functions.conftest import bindings_for

    return {
        "ELBSYNC_ELB_ENDPOINT": emulator.base_url,
        "ELBSYNC_AS_ENDPOINT": emulator.base_url,
        "ELBSYNC_ECS_ENDPOINT": emulator.base_url,
        "ELBSYNC_PROJECT_ID": emulator.project_id,
        "HUAWEICLOUD_SDK_AK": emulator.access_key,
        "HUAWEICLOUD_SDK_SK": emulator.secret_key,
        "ELBSYNC_STATE_URL": f"file://{functions.state_dir}",
        "ELBSYNC_BINDINGS": json.dumps(bindings_for(emulator)),
        "ELBSYNC_LOG_FORMAT": "json",
    }


# -- large declarations ---------------------------------------------------------------------


def world_with_balancers(count: int) -> dict[str, Any]:
    """The default world plus ``count`` balancers of two empty pools each."""
    document = default_world_document()
    template = document["load_balancers"][0]
    for n in range(count):
        lb = copy.deepcopy(template)
        lb["id"] = str(uuid.uuid4())
        lb["name"] = f"lb-extra-{n}"
        pools = []
        for p in range(2):
            pool = copy.deepcopy(template["pools"][0])
            pool.update(id=str(uuid.uuid4()), name=f"pool-extra-{n}-{p}", members=[])
            pool["health_monitor"]["id"] = str(uuid.uuid4())
            pools.append(pool)
        listener = copy.deepcopy(template["listeners"][0])
        listener.update(id=str(uuid.uuid4()), name=f"listener-extra-{n}")
        listener["default_pool_id"] = pools[0]["id"]
        lb["pools"], lb["listeners"] = pools, [listener]
        document["load_balancers"].append(lb)
    return document


def desired_event(pool_id: str, lb_id: str, subnet_id: str, members: int) -> dict[str, Any]:
    event = load_event("member_events/cloudevent_desired")
    event["id"] = f"desired-{pool_id}"
    event["data"] = {
        "pool_id": pool_id,
        "load_balancer_id": lb_id,
        "members": [
            {
                "address": f"192.168.1.{n // 3 + 20}",
                "protocol_port": 8000 + n % 3,
                "weight": 3,
                "subnet_cidr_id": subnet_id,
            }
            for n in range(members)
        ],
    }
    return event


def test_a_desired_state_of_thousands_over_several_balancers_reaches_its_exact_target(
    emulator_factory: Callable[[World | dict[str, Any]], EmulatorHandle],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handle = emulator_factory(world_with_balancers(3))
    functions = Functions(handle, tmp_path / "state", monkeypatch)
    runtime.use_clock(functions.now)
    try:
        pools = [
            (pool.id, lb.id)
            for lb in handle.world.load_balancers
            if lb.name.startswith("lb-extra")
            for pool in lb.pools
        ]
        subnet = handle.subnet_id("subnet-app")
        events = [desired_event(pool_id, lb_id, subnet, 450) for pool_id, lb_id in pools]

        with ThreadPoolExecutor(max_workers=len(events)) as pool:
            replies = list(pool.map(lambda e: functions.invoke("member_events", e), events))
        statuses = Counter(r["events"][0]["status"] for r in replies)
        for _ in range(3):
            if not any(functions.tick()["pending"].values()):
                break
    finally:
        runtime.use_clock(None)

    assert sum(statuses.values()) == 6
    assert set(statuses) <= {"applied", "queued"}
    for (pool_id, _), event in zip(pools, events, strict=True):
        wanted = {(m["address"], m["protocol_port"]) for m in event["data"]["members"]}
        present = {(m["address"], m["protocol_port"]) for m in handle.pool_members(pool_id)}
        assert present == wanted
    writes = [e for e in handle.admin("GET", "requests")["requests"] if e["status"] == 201]
    per_pool = Counter(next(p for p, _ in pools if p in e["path"]) for e in writes)
    assert all(count <= 2 * 3 for count in per_pool.values()), per_pool  # minimum: 3 per pool
    # Redelivered now, every event replays its final reply: everything added.
    again = [functions.invoke("member_events", e) for e in events[:2]]
    for reply in again:
        assert reply["events"][0]["result"]["counts"] == {"added": 450}


# -- transient failures and redelivery -----------------------------------------------------


def test_an_event_whose_writes_were_refused_as_throttled_converges_on_redelivery(
    functions: Functions,
) -> None:
    functions.emulator.add_fault(operation="elb.batch_add", kind="throttle", next_calls=20)
    event = load_event("member_events/cloudevent_register")

    first = functions.invoke("member_events", event)

    assert first["ok"] is True
    assert first["events"][0]["status"] == "queued"
    assert "failed" not in first["events"][0]["result"]["counts"]
    functions.emulator.admin("DELETE", "faults")

    second = functions.invoke("member_events", event)
    third = functions.invoke("member_events", event)

    assert second["events"][0]["status"] == "applied"
    counts = second["events"][0]["result"]["counts"]
    assert set(counts) <= {"added", "unchanged"}
    assert counts.get("added", 0) >= 1
    assert third["events"][0].get("replayed") is True
    assert third["events"][0]["result"] == second["events"][0]["result"]


def test_a_launch_whose_adds_stay_throttled_is_not_abandoned(functions: Functions) -> None:
    functions.emulator.add_fault(operation="elb.batch_add", kind="throttle", next_calls=40)
    (instance_id,), (event,) = launch_many(functions, 1)

    reply = functions.invoke("member_events", event)
    functions.travel(60)
    tick = functions.tick()

    assert reply["events"][0]["status"] == "queued"
    assert tick["decided"]["ABANDON"] == 0
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == []
    (action,) = list(functions.repository().pending(LifecycleAction))
    assert action.status == "joining"

    functions.emulator.admin("DELETE", "faults")
    functions.tick()
    functions.travel(15)
    functions.tick()
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]


# -- what it costs --------------------------------------------------------------------------


def test_a_launch_reads_no_check_job_it_did_not_start(
    functions: Functions, store_log: list[tuple[str, str]]
) -> None:
    _, events = launch_many(functions, 6)
    for event in events[:5]:
        functions.invoke("member_events", event)
    assert len(list(functions.repository().pending(CheckJob))) == 10
    store_log.clear()

    functions.invoke("member_events", events[5])

    areas = (layout.pending_prefix("check_job"), layout.done_prefix("check_job"))
    touched = [(op, key) for op, key in store_log if key.startswith(areas)]
    assert not any(op == "list" for op, _ in touched)
    assert len({key.rsplit("/", 1)[-1] for _, key in touched}) == 2  # its own two jobs only


def test_the_poller_spends_at_most_three_store_requests_per_finished_check_job(
    functions: Functions, store_log: list[tuple[str, str]]
) -> None:
    _, events = launch_many(functions, 10)
    for event in events:
        functions.invoke("member_events", event)
    functions.travel(15)
    store_log.clear()

    reply = functions.tick()

    assert reply["finished"] == 20
    jobs = [
        op
        for op, key in store_log
        if key.startswith(layout.pending_prefix("check_job"))
        or key.startswith(layout.done_prefix("check_job"))
    ]
    listing = jobs.count("list")
    assert listing == 1
    assert (len(jobs) - listing) / reply["finished"] <= 3, Counter(jobs)


def test_concurrent_invocations_on_one_balancer_never_hold_the_lease_together(
    functions: Functions,
) -> None:
    name = functions.emulator.load_balancer_id("lb-web")
    holders: list[int] = []
    lock = threading.Lock()

    def contend(n: int) -> None:
        leases = Leases(DirectoryStore(str(functions.state_dir), deadline=Deadline.after(30)))
        lease = leases.acquire(name, seconds=30)
        if lease is not None:
            with lock:
                holders.append(lease.generation)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(contend, range(32)))

    assert holders == [1]


def test_concurrent_register_events_on_one_pool_lose_no_member(functions: Functions) -> None:
    pool_id = functions.emulator.pool_id("pool-static")
    lb_id = functions.emulator.load_balancer_id("lb-web")
    subnet = functions.emulator.subnet_id("subnet-app")
    events = []
    for number in range(12):
        members = [
            {"address": f"192.168.1.{100 + 2 * number + i}", "protocol_port": 8081}
            for i in range(2)
        ]
        events.append(
            {
                "specversion": "1.0",
                "id": f"register-{number}",
                "source": "test/pipeline",
                "type": "elbsync.members.register",
                "data": {
                    "pool_id": pool_id,
                    "load_balancer_id": lb_id,
                    "members": [{**m, "subnet_cidr_id": subnet} for m in members],
                },
            }
        )
    functions.emulator.add_fault(operation="elb.batch_add", kind="lose_reply", rate=0.3)

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        replies = list(pool.map(lambda e: functions.invoke("member_events", e), events))
    functions.emulator.admin("DELETE", "faults")
    for _ in range(4):
        if not any(functions.tick()["pending"].values()):
            break

    assert all(r["events"][0]["status"] in ("applied", "queued") for r in replies), replies
    present = [(m["address"], m["protocol_port"]) for m in functions.emulator.pool_members(pool_id)]
    wanted = {(m["address"], 8081) for e in events for m in e["data"]["members"]}
    assert set(present) == wanted
    assert len(present) == len(wanted)
