"""Deployment events that name their members by reference (``members_key``): a member list
object in the state store, against the emulator with its busy window on, as ELB behaves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elbsync import runtime
from elbsync.deadline import Deadline
from elbsync.devkit.emulator import World
from elbsync.flows.replies import MAX_REPLY_ROWS
from elbsync.state import layout
from elbsync.state.directory import DirectoryStore

from tests.events import load_event, load_member_list, member_list_names
from tests.fixtures.emulator import EmulatorHandle, default_world_document
from tests.integration.functions.conftest import Functions

SAMPLE = "member_events/cloudevent_desired_by_reference"
SAMPLE_KEY = "inputs/pool-static.json"
LARGE = 5000


def upload(functions: Functions, key: str, content: bytes) -> None:
    """Put an object in the functions' state store, as an operator's pipeline would."""
    DirectoryStore(str(functions.state_dir), deadline=Deadline.after(30)).put(key, content)


def upload_sample_lists(functions: Functions) -> None:
    """Every list in ``events/member_lists/`` at ``inputs/<its file name>``."""
    for name in member_list_names():
        upload(functions, f"inputs/{name}.json", load_member_list(name))


def static_members(handle: EmulatorHandle) -> dict[tuple[str, int], dict[str, Any]]:
    found = handle.pool_members(handle.pool_id("pool-static"))
    return {(m["address"], m["protocol_port"]): m for m in found}


def by_reference(name: str, key: str) -> dict[str, Any]:
    """A sample event with its inline members replaced by ``members_key``."""
    event = load_event(name)
    del event["data"]["members"]
    event["data"]["members_key"] = key
    return event


def the_error(reply: dict[str, Any]) -> dict[str, Any]:
    (event,) = reply["events"]
    assert event["status"] == "rejected", event
    error: dict[str, Any] = event["error"]
    return error


# -- the sample and small lists -----------------------------------------------------------


def test_the_sample_desired_event_makes_the_pool_hold_its_listed_members(
    functions: Functions,
) -> None:
    upload_sample_lists(functions)
    listed = json.loads(load_member_list("pool-static"))["members"]

    reply = functions.invoke("member_events", load_event(SAMPLE))

    (event,) = reply["events"]
    assert event["status"] == "applied", event
    assert event["result"]["counts"] == {"added": len(listed)}
    static = static_members(functions.emulator)
    assert {key: (m["weight"], m["name"]) for key, m in static.items()} == {
        (m["address"], m["protocol_port"]): (m["weight"], f"elbsync:{m['name']}") for m in listed
    }


def test_a_register_event_by_reference_adds_the_listed_members_and_checks_them(
    functions: Functions,
) -> None:
    upload_sample_lists(functions)
    event = by_reference("member_events/cloudevent_register", SAMPLE_KEY)

    reply = functions.invoke("member_events", event)

    result = reply["events"][0]["result"]
    assert result["counts"] == {"added": 4}
    assert len(result["check_jobs"]) == 4  # four members, one listener
    assert {m["name"] for m in static_members(functions.emulator).values()} == {
        f"elbsync:static-{n}" for n in range(1, 5)
    }


def test_a_register_event_by_reference_may_ask_for_at_most_1000_check_jobs(
    functions: Functions,
) -> None:
    listed = [
        {"address": f"192.168.1.{n % 250 + 2}", "protocol_port": 9000 + n // 250}
        for n in range(1001)
    ]
    upload(functions, "inputs/many.json", json.dumps(listed).encode())
    event = by_reference("member_events/cloudevent_register", "inputs/many.json")

    error = the_error(functions.invoke("member_events", event))

    assert error["field"] == "data.listener_ids"
    assert "1001 member check jobs" in error["message"]
    assert static_members(functions.emulator) == {}


def test_a_deregister_event_by_reference_removes_the_listed_members(
    functions: Functions,
) -> None:
    upload_sample_lists(functions)
    functions.invoke("member_events", load_event(SAMPLE))
    leaving = [
        {"address": "192.168.1.20", "protocol_port": 8081},
        {"address": "192.168.1.21", "protocol_port": 8081},
    ]
    upload(functions, "inputs/leaving.json", json.dumps(leaving).encode())
    event = by_reference("member_events/cloudevent_deregister", "inputs/leaving.json")
    event["data"].update(pool_id=functions.emulator.pool_id("pool-static"), drain_seconds=0)

    reply = functions.invoke("member_events", event)

    assert reply["events"][0]["result"]["counts"] == {"deleted": 2}
    assert set(static_members(functions.emulator)) == {
        ("192.168.1.22", 8081),
        ("192.168.1.23", 8081),
    }


def test_a_missing_member_list_is_rejected_with_its_path_and_changes_nothing(
    functions: Functions,
) -> None:
    reply = functions.invoke("member_events", load_event(SAMPLE))

    error = the_error(reply)
    assert error["field"] == "data.members_key"
    assert f"object {SAMPLE_KEY!r}: no such object" in error["message"]
    assert static_members(functions.emulator) == {}
    assert reply["ok"] is False


def test_an_invalid_entry_is_rejected_with_its_path_inside_the_list(
    functions: Functions,
) -> None:
    listed = json.loads(load_member_list("pool-static"))
    listed["members"][2]["address"] = "192.168.1.300"
    upload(functions, SAMPLE_KEY, json.dumps(listed).encode())

    error = the_error(functions.invoke("member_events", load_event(SAMPLE)))

    assert error["field"] == "data.members_key"
    assert "members[2].address" in error["message"]
    assert "not an IP address" in error["message"]
    assert static_members(functions.emulator) == {}


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(f"{layout.PENDING}write-queue/lb/intent.json", id="pending-records"),
        pytest.param(f"{layout.ROOT}", id="the-records-root"),
        pytest.param("V1/done/x.json", id="upper-case"),
        pytest.param("inputs/../v1/x.json", id="dot-dot"),
        pytest.param("/inputs/pool-static.json", id="leading-slash"),
    ],
)
def test_a_key_under_elbsyncs_own_records_or_outside_the_store_is_refused(
    functions: Functions, key: str
) -> None:
    upload_sample_lists(functions)
    event = load_event(SAMPLE)
    event["data"]["members_key"] = key

    error = the_error(functions.invoke("member_events", event))

    assert error["field"] == "data.members_key"
    assert static_members(functions.emulator) == {}


# -- a desired state larger than an event -------------------------------------------------


@pytest.fixture
def large_pool(
    emulator_factory: Callable[[World | dict[str, Any]], EmulatorHandle],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Functions]:
    """The default world (busy for 0.5 s after each write) with pool-static's quota raised
    from ELB's default 500 to hold the large list."""
    document = default_world_document()
    for lb in document["load_balancers"]:
        for pool in lb["pools"]:
            if pool["name"] == "pool-static":
                pool["member_quota"] = LARGE
    functions = Functions(emulator_factory(document), tmp_path / "state", monkeypatch)
    runtime.use_clock(functions.now)
    yield functions
    runtime.use_clock(None)
    runtime.use_settings(None)


def test_a_desired_state_of_5000_members_by_reference_reaches_its_target_with_bounded_replies(
    large_pool: Functions,
) -> None:
    functions, handle = large_pool, large_pool.emulator
    subnet = handle.subnet_id("subnet-app")
    # 250 addresses of subnet-app, 20 ports each.
    wanted = [
        {
            "address": f"192.168.1.{n % 250 + 2}",
            "protocol_port": 9000 + n // 250,
            "weight": 3,
            "subnet_cidr_id": subnet,
        }
        for n in range(LARGE)
    ]
    upload(functions, "inputs/pool-static-large.json", json.dumps(wanted).encode())
    event = load_event(SAMPLE)
    event["data"]["members_key"] = "inputs/pool-static-large.json"
    started = time.monotonic()

    # 25 batch calls paced a second apart outlast this invocation: the poller sends the rest.
    first = functions.invoke("member_events", event, timeout_s=12)
    ticks = 0
    while ticks < 5:
        ticks += 1
        if not any(functions.tick()["pending"].values()):
            break
    again = functions.invoke("member_events", event)
    elapsed = time.monotonic() - started

    assert first["events"][0]["status"] == "queued"
    assert again["events"][0]["status"] == "applied"
    present = static_members(handle)
    assert set(present) == {(m["address"], m["protocol_port"]) for m in wanted}
    assert {m["weight"] for m in present.values()} == {3}
    adds = [
        r
        for r in handle.admin("GET", "requests")["requests"]
        if r["path"].endswith("/members/batch-add") and r["status"] == 201
    ]
    # The fewest calls, 200 members each; one more if the first invocation's deadline cut a
    # call off after ELB applied it (that batch is sent again and answered "existed").
    assert LARGE // 200 <= len(adds) <= LARGE // 200 + 1
    for reply in (first, again):
        result = reply["events"][0]["result"]
        assert len(result["members"]) == MAX_REPLY_ROWS
        assert result["members_truncated"] == {"listed": MAX_REPLY_ROWS, "total": LARGE}
        assert sum(result["counts"].values()) == LARGE
    assert again["events"][0]["result"]["counts"] == {"added": LARGE}
    size = len(json.dumps(again))
    stored = max(
        p.stat().st_size for p in (functions.state_dir / layout.IDEMPOTENCY).rglob("*.json")
    )
    assert size < 250_000
    assert stored < 250_000
    print(
        f"\n{LARGE} members by reference: {elapsed:.1f} s, {ticks} poller tick(s); reply "
        f"{size} bytes, largest idempotency record {stored} bytes"
    )
