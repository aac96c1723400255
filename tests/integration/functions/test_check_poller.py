"""check_poller against the emulator: the whole cycle from launch to decision."""

from __future__ import annotations

import json
from typing import Any

from elbsync.state.records import CheckJob, Drain, LifecycleAction

from tests.events import load_event
from tests.integration.functions.conftest import Functions, bindings_for
from tests.integration.functions.test_member_events_scaling import (
    decisions,
    instance_state,
    launch,
    launch_many,
    members_named,
    terminate_after_continue,
)


def only_pool_web(functions: Functions, **gate: Any) -> None:
    bindings = bindings_for(functions.emulator, **gate)
    bindings["bindings"][0]["pools"] = bindings["bindings"][0]["pools"][:1]
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))


def test_a_healthy_launch_is_continued_exactly_once(functions: Functions) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)  # check jobs take 2 s, new members turn ONLINE after 10 s

    reply = functions.tick()
    again = functions.tick()

    assert reply["ok"] is True, reply
    assert reply["finished"] == 2
    assert reply["decided"] == {"CONTINUE": 1, "ABANDON": 0, "EXTEND": 0}
    assert again["decided"] == {"CONTINUE": 0, "ABANDON": 0, "EXTEND": 0}
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    assert instance_state(functions, instance_id)["lifecycle_state"] == "INSERVICE"
    repo = functions.repository()
    assert list(repo.pending(LifecycleAction)) == []
    assert list(repo.pending(CheckJob)) == []
    (key,) = [a["lifecycle_action_key"] for a in instance_state(functions, instance_id)["actions"]]
    action = repo.load(LifecycleAction, key)
    assert action is not None
    assert (action.status, action.decision) == ("completed", "CONTINUE")


def test_a_launch_waits_while_members_are_not_yet_online(functions: Functions) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(6)  # check jobs done, members still coming up

    reply = functions.tick()

    assert reply["decided"]["CONTINUE"] == 0
    assert reply["pending"]["lifecycle_actions"] == 1
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == []


def test_a_security_group_that_blocks_the_health_check_abandons_with_the_reason(
    functions: Functions,
) -> None:
    only_pool_web(functions)
    emulator = functions.emulator
    sg = emulator.security_group_id("sg-web")
    emulator.admin(
        "PUT",
        f"security_groups/{sg}",
        {
            "rules": [
                {
                    "direction": "ingress",
                    "protocol": "tcp",
                    "port_range_min": 8080,
                    "port_range_max": 8082,
                    "remote_ip_prefix": "192.168.0.0/24",
                }
            ]
        },
    )
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)

    reply = functions.tick()

    assert reply["decided"]["ABANDON"] == 1, reply
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["ABANDON"]
    (key,) = [a["lifecycle_action_key"] for a in instance_state(functions, instance_id)["actions"]]
    action = functions.repository().load(LifecycleAction, key)
    assert action is not None
    assert action.decision == "ABANDON"
    assert action.reason is not None
    assert "securityGroup" in action.reason
    assert "{$" not in action.reason  # rendered, not the raw template
    job = functions.repository().load(CheckJob, action.check_job_ids[0])
    assert job is not None
    assert job.passed is False
    assert any(f.severity == "Major" and f.group == "security_group" for f in job.findings)
    # An abandoned instance leaves none of its members behind.
    assert members_named(functions, "pool-web", f"elbsync:as:{instance_id}") == []


def test_an_abandoned_launch_leaves_no_member_behind_in_any_pool(functions: Functions) -> None:
    bindings = bindings_for(functions.emulator, timeout_seconds=60, on_failure="ABANDON")
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.emulator.admin("POST", f"servers/{instance_id}/stop")
    functions.travel(61)

    reply = functions.tick()

    assert reply["decided"]["ABANDON"] == 1
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["ABANDON"]
    name = f"elbsync:as:{instance_id}"
    assert members_named(functions, "pool-web", name) == []
    assert members_named(functions, "pool-api", name) == []


def test_a_member_that_never_gets_healthy_meets_the_policy_at_the_health_deadline(
    functions: Functions,
) -> None:
    only_pool_web(functions, timeout_seconds=60, on_failure="CONTINUE")
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.emulator.admin("POST", f"servers/{instance_id}/stop")
    functions.travel(61)

    reply = functions.tick()

    assert reply["decided"]["CONTINUE"] == 1
    (key,) = [a["lifecycle_action_key"] for a in instance_state(functions, instance_id)["actions"]]
    action = functions.repository().load(LifecycleAction, key)
    assert action is not None
    assert action.reason is not None
    assert "not healthy by the health deadline" in action.reason
    assert "OFFLINE" in action.reason


def test_a_hook_near_its_deadline_is_extended(functions: Functions) -> None:
    only_pool_web(functions, timeout_seconds=3000)
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.emulator.admin("POST", f"servers/{instance_id}/stop")  # never healthy
    (before,) = instance_state(functions, instance_id)["actions"]
    functions.travel(600 - 60)  # the hook times out after 600 s

    reply = functions.tick()

    assert reply["decided"]["EXTEND"] == 1
    (after,) = instance_state(functions, instance_id)["actions"]
    assert after["status"] == "HANGING"
    assert after["timeout"] > before["timeout"]
    (action,) = list(functions.repository().pending(LifecycleAction))
    assert action.extensions == 1
    functions.travel(120)  # past the original deadline: still hanging thanks to EXTEND
    assert instance_state(functions, instance_id)["actions"][0]["status"] == "HANGING"


def test_a_terminating_instance_is_deleted_after_its_drain_then_let_go(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.invoke("member_events", terminate_after_continue(functions, instance_id))
    early = functions.tick()
    assert early["drained"] == 0
    functions.travel(31)

    reply = functions.tick()

    assert reply["drained"] == 2
    assert members_named(functions, "pool-web", f"elbsync:as:{instance_id}") == []
    assert members_named(functions, "pool-api", f"elbsync:as:{instance_id}") == []
    assert decisions(functions, instance_id, "INSTANCE_TERMINATING") == ["CONTINUE"]
    assert list(functions.repository().pending(Drain)) == []
    assert functions.tick()["drained"] == 0


def test_too_little_time_makes_partial_progress_and_the_next_tick_finishes(
    functions: Functions,
) -> None:
    instances, events = launch_many(functions, 3)
    for event in events:
        functions.invoke("member_events", event)
    functions.travel(15)
    functions.emulator.add_fault(operation="elb.show_check_job", kind="latency", latency_ms=400)
    functions.env(ELBSYNC_POLL_CONCURRENCY="1", ELBSYNC_DEADLINE_MARGIN_MS="500")

    short = functions.tick(timeout_s=2.5)

    assert short["stopped_early"] is True
    assert short["pending"]["check_jobs"] > 0
    for job in functions.repository().pending(CheckJob):  # every record still reads back
        assert job.status in ("pending", "processing")
    functions.env(ELBSYNC_POLL_CONCURRENCY="8")
    full = functions.tick()
    assert full["pending"] == {
        "check_jobs": 0,
        "lifecycle_actions": 0,
        "drains": 0,
        "write_intents": 0,
    }
    for instance_id in instances:
        assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]


def test_a_bad_timer_configuration_is_reported_and_the_tick_still_decides(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)
    typo = load_event("check_poller/timer_typo_option")["user_event"]

    broken = functions.tick(user_event="expire=true")
    reply = functions.tick(user_event=typo)

    assert [w["field"] for w in broken["warnings"]] == ["user_event"]
    assert [w["field"] for w in reply["warnings"]] == ["user_event.expiry"]
    assert broken["decided"]["CONTINUE"] + reply["decided"]["CONTINUE"] == 1
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    assert "warnings" not in functions.tick()
