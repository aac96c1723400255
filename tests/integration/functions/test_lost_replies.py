"""Lost replies: the cloud did the write, elbsync never heard so.

The emulator's ``lose_reply`` fault runs an operation and then closes the connection. A retry
then meets the effect of the first call (the member exists, the action no longer hangs), and
the records must say what the cloud did: never ``failed`` for something that happened.
"""

from __future__ import annotations

from elbsync.state.records import Drain, LifecycleAction

from tests.integration.functions.conftest import Functions
from tests.integration.functions.test_member_events_scaling import (
    decisions,
    instance_state,
    launch,
    members_named,
    terminate,
)


def _action(functions: Functions, instance_id: str) -> LifecycleAction:
    (key,) = [a["lifecycle_action_key"] for a in instance_state(functions, instance_id)["actions"]]
    action = functions.repository().load(LifecycleAction, key)
    assert action is not None
    return action


def _lost_calls(functions: Functions, operation: str) -> int:
    log = functions.emulator.admin("GET", "requests")["requests"]
    return sum(1 for entry in log if entry["operation"] == operation and entry["reply_lost"])


def test_a_continue_whose_reply_was_lost_is_recorded_completed(functions: Functions) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)
    functions.emulator.add_fault(operation="as.callback", kind="lose_reply", next_calls=1)

    reply = functions.tick()

    assert _lost_calls(functions, "as.callback") == 1
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    action = _action(functions, instance_id)
    assert (action.status, action.decision) == ("completed", "CONTINUE"), action.reason
    assert "no longer holds the action" in str(action.reason)
    assert reply["ok"] is True, reply


def test_a_callback_whose_every_reply_is_lost_settles_on_a_later_tick(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)
    functions.env(ELBSYNC_MAX_ATTEMPTS="2")
    functions.emulator.add_fault(operation="as.callback", kind="lose_reply", next_calls=2)

    functions.tick()
    waiting = _action(functions, instance_id)
    functions.tick()

    assert waiting.status == "completing"
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    action = _action(functions, instance_id)
    assert (action.status, action.decision) == ("completed", "CONTINUE")
    assert list(functions.repository().pending(LifecycleAction)) == []


def test_adds_whose_reply_was_lost_are_members_once_and_not_failed(functions: Functions) -> None:
    (instance_id,), event = launch(functions)
    functions.emulator.add_fault(operation="elb.batch_add", kind="lose_reply", next_calls=2)

    reply = functions.invoke("member_events", event)
    functions.travel(15)
    functions.tick()

    assert _lost_calls(functions, "elb.batch_add") >= 1
    name = f"elbsync:as:{instance_id}"
    assert len(members_named(functions, "pool-web", name)) == 1
    assert len(members_named(functions, "pool-api", name)) == 1
    assert reply["counts"]["members"].get("failed", 0) == 0, reply
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]


def test_a_drain_whose_delete_and_callback_replies_were_lost_finishes_clean(
    functions: Functions,
) -> None:
    (instance_id,), event = launch(functions)
    functions.invoke("member_events", event)
    functions.travel(15)
    functions.tick()
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == ["CONTINUE"]
    functions.invoke("member_events", terminate(functions, instance_id))
    functions.travel(31)
    functions.emulator.add_fault(operation="elb.batch_delete", kind="lose_reply", next_calls=1)
    functions.emulator.add_fault(operation="as.callback", kind="lose_reply", next_calls=1)

    functions.tick()
    functions.tick()

    name = f"elbsync:as:{instance_id}"
    assert members_named(functions, "pool-web", name) == []
    assert members_named(functions, "pool-api", name) == []
    assert decisions(functions, instance_id, "INSTANCE_TERMINATING") == ["CONTINUE"]
    assert list(functions.repository().pending(Drain)) == []
    (path,) = (functions.state_dir / "v1" / "done" / "drains").glob("*.json")
    drain = Drain.model_validate_json(path.read_text())
    assert drain.status == "deleted", drain.reason
    assert "callback refused" not in str(drain.reason)
    assert "no longer holds the action" in str(drain.reason)
