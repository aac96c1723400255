"""member_events against the emulator: Auto Scaling lifecycle events."""

from __future__ import annotations

import json
from typing import Any

from elbsync.state.records import CheckJob, Drain, LifecycleAction, WriteIntent

from tests.integration.functions.conftest import Functions, bindings_for


def launch_many(functions: Functions, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Launch instances in asg-web; their ids and the SMN events the cloud delivers (one each)."""
    group = functions.emulator.scaling_group_id("asg-web")
    reply = functions.emulator.admin("POST", f"autoscaling/groups/{group}/launch", {"count": count})
    return [i["instance_id"] for i in reply["instances"]], list(reply["events"])


def launch(functions: Functions) -> tuple[list[str], dict[str, Any]]:
    ids, (event,) = launch_many(functions, 1)
    return ids, event


def terminate(functions: Functions, instance_id: str) -> dict[str, Any]:
    group = functions.emulator.scaling_group_id("asg-web")
    reply = functions.emulator.admin(
        "POST", f"autoscaling/groups/{group}/terminate", {"instance_ids": [instance_id]}
    )
    event: dict[str, Any] = reply["events"][0]
    return event


def instance_state(functions: Functions, instance_id: str) -> dict[str, Any]:
    for item in functions.emulator.admin("GET", "autoscaling/instances")["instances"]:
        if item["instance_id"] == instance_id:
            return dict(item)
    raise AssertionError(f"no instance {instance_id}")


def decisions(functions: Functions, instance_id: str, hook_type: str) -> list[str]:
    """Every decision Auto Scaling recorded for the instance's action of one hook type."""
    actions = instance_state(functions, instance_id)["actions"]
    return [
        d["result"]
        for action in actions
        if action["lifecycle_hook_type"] == hook_type
        for d in action["decisions"]
    ]


def members_named(functions: Functions, pool: str, name: str) -> list[dict[str, Any]]:
    pool_id = functions.emulator.pool_id(pool)
    return [m for m in functions.emulator.pool_members(pool_id) if m["name"] == name]


def test_a_launching_instance_joins_every_bound_pool_and_waits_for_health(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)

    reply = functions.invoke("member_events", event)

    assert reply["ok"] is True, reply
    (result,) = reply["events"]
    assert result["status"] == "applied"
    assert result["result"]["counts"] == {"added": 2}
    name = f"elbsync:as:{instance_id}"
    web = members_named(functions, "pool-web", name)
    api = members_named(functions, "pool-api", name)
    assert [(m["protocol_port"], m["weight"]) for m in web] == [(80, 10)]
    assert [(m["protocol_port"], m["weight"]) for m in api] == [(8080, 5)]

    repo = functions.repository()
    (action,) = list(repo.pending(LifecycleAction))
    # The handler records the action and its queued adds; the poller learns the member ids.
    assert (action.instance_id, action.status, action.hook_type) == (
        instance_id,
        "joining",
        "INSTANCE_LAUNCHING",
    )
    assert {m.pool_id for m in action.members} == {
        functions.emulator.pool_id("pool-web"),
        functions.emulator.pool_id("pool-api"),
    }
    (intent,) = [repo.load_done(WriteIntent, r) for r in action.intent_ids]
    assert intent is not None
    assert sorted(intent.check_job_ids) == sorted(j.job_id for j in repo.pending(CheckJob))
    assert len(intent.check_job_ids) == 2
    assert functions.emulator.calls()["elb.create_check_job"] == 2
    assert instance_state(functions, instance_id)["lifecycle_state"] == "PENDING_WAIT"
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == []


def test_a_replayed_launch_changes_nothing_and_returns_the_first_reply(
    functions: Functions,
) -> None:
    _, event = launch(functions)
    first = functions.invoke("member_events", event)
    calls_before = functions.emulator.calls()

    again = functions.invoke("member_events", event)

    assert again["events"][0]["replayed"] is True
    assert again["events"][0]["result"] == first["events"][0]["result"]
    calls_after = functions.emulator.calls()
    for operation in ("elb.batch_add", "elb.create_check_job", "as.callback"):
        assert calls_after.get(operation, 0) == calls_before.get(operation, 0)
    assert len(list(functions.repository().pending(CheckJob))) == 2


def test_a_launch_redelivered_under_a_new_message_id_starts_no_second_check_job(
    functions: Functions,
) -> None:
    _, event = launch(functions)
    functions.invoke("member_events", event)
    event["record"][0]["smn"]["message_id"] = "another-delivery-of-the-same-action"

    calls_before = functions.emulator.calls()

    reply = functions.invoke("member_events", event)

    # The same lifecycle action: what was recorded is reported, nothing is written again.
    assert reply["events"][0]["result"]["counts"] == {"added": 2}
    assert functions.emulator.calls().get("elb.batch_add") == calls_before.get("elb.batch_add")
    assert functions.emulator.calls()["elb.create_check_job"] == 2
    assert len(list(functions.repository().pending(CheckJob))) == 2


def test_a_terminating_instance_is_drained_and_its_deletion_recorded(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)

    reply = functions.invoke("member_events", terminate_after_continue(functions, instance_id))

    assert reply["ok"] is True, reply
    result = reply["events"][0]["result"]
    assert result["counts"] == {"draining": 2}
    name = f"elbsync:as:{instance_id}"
    assert [m["weight"] for m in members_named(functions, "pool-web", name)] == [0]
    assert [m["weight"] for m in members_named(functions, "pool-api", name)] == [0]
    (drain,) = list(functions.repository().pending(Drain))
    assert drain.then_complete is not None
    assert drain.then_complete.instance_id == instance_id
    assert len(drain.targets) == 2
    assert result["lifecycle"]["status"] == "draining"


def terminate_after_continue(functions: Functions, instance_id: str) -> dict[str, Any]:
    """Let the launch through (as the poller would), then start the instance's termination."""
    emulator = functions.emulator
    hooks = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook"
    group = emulator.scaling_group_id("asg-web")
    client = emulator.client()
    listed = client.get(f"{hooks}/{group}/list", params={"instance_id": instance_id})
    key = listed.json()["instance_hanging_info"][0]["lifecycle_action_key"]
    response = client.put(
        f"{hooks}/{group}/callback",
        json={"lifecycle_action_result": "CONTINUE", "lifecycle_action_key": key},
    )
    assert response.status_code == 204, response.text
    return terminate(functions, instance_id)


def test_with_no_drain_time_members_are_deleted_and_the_action_completed_at_once(
    functions: Functions,
) -> None:
    bindings = bindings_for(functions.emulator)
    for pool in bindings["bindings"][0]["pools"]:
        pool["drain_seconds"] = 0
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)

    reply = functions.invoke("member_events", terminate_after_continue(functions, instance_id))

    result = reply["events"][0]["result"]
    assert result["counts"] == {"deleted": 2}
    assert result["lifecycle"]["status"] == "completed"
    assert members_named(functions, "pool-web", f"elbsync:as:{instance_id}") == []
    assert list(functions.repository().pending(Drain)) == []
    assert decisions(functions, instance_id, "INSTANCE_TERMINATING") == ["CONTINUE"]


def test_a_pool_that_ignores_weights_is_not_drained_but_emptied_at_once(
    functions: Functions,
) -> None:
    emulator = functions.emulator
    bindings = bindings_for(emulator)
    bindings["bindings"][0]["pools"] = [
        {
            "pool_id": emulator.pool_id("pool-dns"),
            "load_balancer_id": emulator.load_balancer_id("lb-dns"),
            "protocol_port": 53,
            "drain_seconds": 60,
            "lb_algorithm": "SOURCE_IP",
        }
    ]
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)

    reply = functions.invoke("member_events", terminate_after_continue(functions, instance_id))

    assert reply["events"][0]["result"]["counts"] == {"deleted": 1}
    assert reply["events"][0]["result"]["lifecycle"]["status"] == "completed"
    assert members_named(functions, "pool-dns", f"elbsync:as:{instance_id}") == []
