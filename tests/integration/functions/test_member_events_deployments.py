"""member_events against the emulator: deployment events and every sample event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from elbsync.state.records import CheckJob, Drain

from tests.events import event_names, load_event
from tests.integration.functions.conftest import Functions, bindings_for
from tests.integration.functions.test_desired_by_reference import upload_sample_lists

WRITES = ("elb.batch_add", "elb.batch_update", "elb.batch_delete", "elb.create_check_job")


def with_subnets(functions: Functions) -> None:
    """Bindings that name the subnet, so instances unknown to ECS (the samples') can join."""
    bindings = bindings_for(functions.emulator)
    for pool in bindings["bindings"][0]["pools"]:
        pool["subnet_cidr_id"] = functions.emulator.subnet_id("subnet-app")
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))


def members(functions: Functions, pool: str) -> dict[tuple[str, int], dict[str, Any]]:
    found = functions.emulator.pool_members(functions.emulator.pool_id(pool))
    return {(m["address"], m["protocol_port"]): m for m in found}


def write_calls(functions: Functions) -> int:
    calls = functions.emulator.calls()
    return sum(calls.get(operation, 0) for operation in WRITES)


#: Valid samples whose events are not all applied, and what each of their events is answered.
NOT_ALL_APPLIED = {
    "member_events/cloudevent_deregister_not_owned": ["refused"],
    "member_events/cloudevent_weights_unknown_members": ["refused"],
    "member_events/smn_foreign_hook": ["ignored"],
    "member_events/smn_unknown_binding_in_second_record": ["applied", "rejected"],
}


@pytest.mark.parametrize("name", event_names("member_events/"))
def test_every_sample_event_gets_a_clear_reply(functions: Functions, name: str) -> None:
    with_subnets(functions)
    upload_sample_lists(functions)  # the member lists the by-reference samples name

    reply = functions.invoke("member_events", load_event(name))

    if name.startswith("member_events/malformed_"):
        assert reply["ok"] is False
        rejected = [e for e in reply.get("events", []) if e["status"] == "rejected"]
        error = rejected[0]["error"] if rejected else reply["error"]
        assert error["code"] == "invalid_input"
        assert error["message"]
    elif name in NOT_ALL_APPLIED:
        assert [event["status"] for event in reply["events"]] == NOT_ALL_APPLIED[name], reply
        assert reply["ok"] is (name == "member_events/smn_foreign_hook")
    else:
        statuses = {event["status"] for event in reply["events"]}
        assert "rejected" not in statuses, reply
        assert statuses <= {"applied", "planned"}
        assert reply["ok"] is True


def test_malformed_records_are_rejected_with_the_field_path_and_good_ones_still_run(
    functions: Functions,
) -> None:
    reply = functions.invoke(
        "member_events", load_event("member_events/malformed_smn_one_bad_record")
    )

    statuses = [event["status"] for event in reply["events"]]
    assert sorted(statuses) == ["applied", "rejected"]
    rejected = next(e for e in reply["events"] if e["status"] == "rejected")
    assert rejected["error"]["field"].startswith("record[1].smn.message")


def test_register_adds_named_members_and_checks_them(functions: Functions) -> None:
    reply = functions.invoke("member_events", load_event("member_events/cloudevent_register"))

    result = reply["events"][0]["result"]
    assert result["counts"] == {"added": 2}
    static = members(functions, "pool-static")
    assert {m["name"] for m in static.values()} == {"elbsync:static-a", "elbsync:static-b"}
    assert len(result["check_jobs"]) == 2
    assert len(list(functions.repository().pending(CheckJob))) == 2


def test_one_invalid_member_in_a_batch_does_not_stop_the_valid_ones(
    functions: Functions,
) -> None:
    event = load_event("member_events/cloudevent_register")
    event["data"]["members"].append(
        {
            "address": "10.9.0.5",  # not in subnet-app: ELB refuses it
            "protocol_port": 8081,
            "subnet_cidr_id": functions.emulator.subnet_id("subnet-app"),
        }
    )

    reply = functions.invoke("member_events", event)

    result = reply["events"][0]["result"]
    assert result["counts"] == {"added": 2, "failed": 1}
    failed = [m for m in result["members"] if m["result"] == "failed"]
    assert failed[0]["address"] == "10.9.0.5"
    assert failed[0]["error"]["status"] == 400
    assert set(members(functions, "pool-static")) == {
        ("192.168.1.10", 8081),
        ("192.168.1.11", 8081),
    }
    assert reply["ok"] is False


def test_weights_shift_traffic(functions: Functions) -> None:
    event = load_event("member_events/eventgrid_weights")
    wanted = {
        (w["address"], w["protocol_port"]): w["weight"]
        for w in event["events"][0]["data"]["weights"]
    }

    reply = functions.invoke("member_events", event)

    assert reply["ok"] is True
    web = members(functions, "pool-web")
    assert {key: web[key]["weight"] for key in wanted} == wanted


def test_deregister_with_adopt_drains_and_records_the_deletion(functions: Functions) -> None:
    reply = functions.invoke("member_events", load_event("member_events/eventgrid_deregister"))

    assert reply["events"][0]["result"]["counts"] == {"draining": 1}
    assert members(functions, "pool-web")[("192.168.1.11", 80)]["weight"] == 0
    (drain,) = list(functions.repository().pending(Drain))
    assert [t.address for t in drain.targets] == ["192.168.1.11"]
    assert drain.then_complete is None


def test_deregister_refuses_members_elbsync_did_not_create(functions: Functions) -> None:
    before = members(functions, "pool-web")
    event = load_event("member_events/cloudevent_deregister")
    event["data"]["adopt"] = False

    reply = functions.invoke("member_events", event)

    rows = reply["events"][0]["result"]["members"]
    assert [(r["result"], r["address"]) for r in rows] == [("refused", "192.168.1.10")]
    assert "adopt" in rows[0]["reason"]
    assert members(functions, "pool-web") == before


def test_a_dry_run_returns_the_plan_and_changes_nothing(functions: Functions) -> None:
    before = members(functions, "pool-web")
    writes = write_calls(functions)

    reply = functions.invoke(
        "member_events", load_event("member_events/cloudevent_desired_dry_run")
    )

    event = reply["events"][0]
    assert event["status"] == "planned"
    plan = event["result"]["plan"]
    assert set(plan) == {"add", "reweight", "remove", "keep", "refused", "missing"}
    assert members(functions, "pool-web") == before
    assert write_calls(functions) == writes


def test_desired_state_adds_and_removes_until_the_pool_matches(functions: Functions) -> None:
    register = load_event("member_events/cloudevent_register")
    functions.invoke("member_events", register)
    desired = load_event("member_events/cloudevent_desired")
    desired["data"]["members"] = [
        {"address": "192.168.1.10", "protocol_port": 8081, "weight": 5},
        {
            "address": "192.168.1.14",
            "protocol_port": 8081,
            "weight": 5,
            "subnet_cidr_id": functions.emulator.subnet_id("subnet-app"),
        },
    ]
    desired["data"]["drain_seconds"] = 0

    reply = functions.invoke("member_events", desired)

    assert reply["events"][0]["result"]["counts"] == {"added": 1, "deleted": 1, "reweighted": 1}
    static = members(functions, "pool-static")
    assert {key: m["weight"] for key, m in static.items()} == {
        ("192.168.1.10", 8081): 5,
        ("192.168.1.14", 8081): 5,
    }


def test_desired_state_never_removes_more_than_the_allowed_share(functions: Functions) -> None:
    functions.invoke("member_events", load_event("member_events/cloudevent_register"))
    desired = load_event("member_events/cloudevent_desired")
    desired["data"]["members"] = []
    desired["data"]["max_remove_share"] = 0.5

    reply = functions.invoke("member_events", desired)

    rows = reply["events"][0]["result"]["members"]
    assert {r["result"] for r in rows} == {"refused"}
    assert all("max_remove_share" in r["reason"] for r in rows)
    assert len(members(functions, "pool-static")) == 2


def test_an_event_id_reused_for_another_payload_is_rejected_and_changes_nothing(
    functions: Functions,
) -> None:
    first = load_event("member_events/cloudevent_weights")
    functions.invoke("member_events", first)
    before = members(functions, "pool-web")
    second = load_event("member_events/cloudevent_weights")
    second["data"]["weights"][0]["weight"] = 77

    reply = functions.invoke("member_events", second)

    (event,) = reply["events"]
    assert event["status"] == "rejected"
    assert event["error"]["code"] == "idempotency_key_reused"
    assert members(functions, "pool-web") == before
