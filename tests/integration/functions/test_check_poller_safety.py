"""check_poller: retries, expiry, deadlines it must not cross, overlapping runs, the audit."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

from elbsync.state.records import CheckJob, LifecycleAction

from tests.integration.functions.conftest import Functions, bindings_for
from tests.integration.functions.test_member_events_scaling import (
    decisions,
    instance_state,
    launch,
    launch_many,
    members_named,
)


def action_of(functions: Functions, instance_id: str) -> LifecycleAction:
    (key,) = [a["lifecycle_action_key"] for a in instance_state(functions, instance_id)["actions"]]
    action = functions.repository().load(LifecycleAction, key)
    assert action is not None
    return action


def test_a_check_job_elb_lost_is_started_again_once(functions: Functions) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(6)  # the first poll is due 5 s after the job started
    functions.emulator.add_fault(
        operation="elb.show_check_job",
        kind="error",
        status=404,
        error_code="ELB.8904",
        next_calls=1,
    )

    functions.tick()

    jobs = list(functions.repository().pending(CheckJob))
    retried = [j for j in jobs if j.retries == 1]
    assert len(retried) == 1
    assert functions.emulator.calls()["elb.create_check_job"] == 3
    first = action_of(functions, instance_id).check_job_ids
    repo = functions.repository()
    statuses = [getattr(repo.load(CheckJob, job_id), "status", None) for job_id in first]
    assert statuses.count("failed") == 1
    functions.travel(15)
    assert functions.tick()["decided"]["CONTINUE"] == 1


def test_check_jobs_that_never_finish_expire_and_live_health_still_decides(
    functions: Functions,
) -> None:
    bindings = bindings_for(functions.emulator, timeout_seconds=60)
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    functions.emulator.add_fault(operation="elb.show_check_job", kind="throttle")
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(61)

    reply = functions.tick(timeout_s=20)

    assert reply["expired"] == 2
    assert reply["decided"]["CONTINUE"] == 1  # the members are ONLINE; no check found a fault
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    repo = functions.repository()
    job_ids = action_of(functions, instance_id).check_job_ids
    assert {getattr(repo.load(CheckJob, j), "status", None) for j in job_ids} == {"expired"}


def test_no_callback_is_made_after_the_hooks_deadline(functions: Functions) -> None:
    bindings = bindings_for(functions.emulator, timeout_seconds=3600, max_extends=0)
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.emulator.admin("POST", f"servers/{instance_id}/stop")
    functions.travel(601)  # the hook's 600 s are over: Auto Scaling applied its default
    callbacks = functions.emulator.calls().get("as.callback", 0)

    reply = functions.tick()

    assert reply["expired"] >= 1
    assert functions.emulator.calls().get("as.callback", 0) == callbacks
    assert action_of(functions, instance_id).status == "expired"
    (action,) = instance_state(functions, instance_id)["actions"]
    assert [d["source"] for d in action["decisions"]] == ["timeout"]
    # The hook's default abandoned the instance: none of its members stays behind.
    assert [d["result"] for d in action["decisions"]] == ["ABANDON"]
    assert members_named(functions, "pool-web", f"elbsync:as:{instance_id}") == []
    assert members_named(functions, "pool-api", f"elbsync:as:{instance_id}") == []


def test_overlapping_ticks_decide_each_instance_exactly_once(functions: Functions) -> None:
    instances, events = launch_many(functions, 4)
    for event in events:
        functions.invoke("member_events", event)
    functions.travel(15)
    replies: list[Any] = []

    def tick() -> None:
        replies.append(functions.tick())

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(replies) == 2
    # Each accepted callback is counted by the tick that made it; a tick that found an action
    # decided already by the other counts it as settled.
    assert sum(r["decided"]["CONTINUE"] for r in replies) == 4
    assert [r["failures"] for r in replies] == [0, 0]
    for instance_id in instances:
        assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
        assert action_of(functions, instance_id).status == "completed"
    assert list(functions.repository().pending(LifecycleAction)) == []


def test_every_change_and_decision_is_in_the_audit_trail(functions: Functions) -> None:
    _, event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)
    functions.tick()

    day = datetime.now(timezone.utc)
    entries = list(functions.repository().audit_entries(functions.now()))
    entries += [e for e in functions.repository().audit_entries(day) if e not in entries]

    actions = sorted({e.action for e in entries})
    assert "members_written" in actions
    assert "lifecycle_continue" in actions
    (written,) = [e for e in entries if e.action == "members_written"]
    assert written.subject == functions.emulator.load_balancer_id("lb-web")
    members = written.details["members"]
    assert isinstance(members, list)
    assert {(m["pool_id"], m["result"]) for m in members if isinstance(m, dict)} == {
        (functions.emulator.pool_id("pool-web"), "added"),
        (functions.emulator.pool_id("pool-api"), "added"),
    }
    assert all(e.actor in ("member_events", "check_poller") for e in entries)


def test_bindings_can_live_in_the_state_store(functions: Functions) -> None:
    document = json.dumps(bindings_for(functions.emulator)).encode()
    store_dir = functions.state_dir
    (store_dir / "config").mkdir(parents=True, exist_ok=True)
    (store_dir / "config" / "bindings.json").write_bytes(document)
    functions.env(ELBSYNC_BINDINGS="", ELBSYNC_BINDINGS_KEY="config/bindings.json")
    _, event = launch(functions)

    reply = functions.invoke("member_events", event)

    assert reply["events"][0]["binding"] == "web"
    assert reply["events"][0]["result"]["counts"] == {"added": 2}
