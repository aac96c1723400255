"""member_events at the edge, against the emulator: event identity, hook ownership, paths of
refusals, fields elbsync does not read, and counts and log lines per event."""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from elbsync.devkit.emulator import World
from elbsync.runtime.logs import configure
from elbsync.state.records import LifecycleAction

from tests.events import EVENTS, load_event
from tests.fixtures.emulator import default_world_document
from tests.integration.functions.conftest import Functions
from tests.integration.functions.test_member_events_scaling import (
    decisions,
    instance_state,
    launch,
    launch_many,
)

STATIC_PORT = 8081


def static_members(functions: Functions) -> set[str]:
    pool_id = functions.emulator.pool_id("pool-static")
    return {m["address"] for m in functions.emulator.pool_members(pool_id)}


def idempotency_records(functions: Functions) -> int:
    folder = functions.state_dir / "v1" / "idempotency"
    return len(list(folder.iterdir())) if folder.exists() else 0


def remote_calls(functions: Functions) -> dict[str, int]:
    return {name: count for name, count in functions.emulator.calls().items() if count}


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the functions write during the test, as JSON text."""
    stream = io.StringIO()
    configure(fmt="json", level="info", stream=stream, force=True)
    yield stream
    configure(force=True)


def log_lines(logs: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


# --- identity --------------------------------------------------------------------------------


def test_two_sources_sending_the_same_id_are_two_events(functions: Functions) -> None:
    first = load_event("member_events/cloudevent_register")
    second = load_event("member_events/cloudevent_register_same_id_other_source")
    assert (first["id"], first["source"]) != (second["id"], second["source"])
    assert first["id"] == second["id"]

    one = functions.invoke("member_events", first)
    two = functions.invoke("member_events", second)

    assert [e["status"] for e in (*one["events"], *two["events"])] == ["applied", "applied"]
    assert "replayed" not in two["events"][0]
    assert two["events"][0]["source"] == second["source"]
    assert static_members(functions) == {"192.168.1.10", "192.168.1.11", "192.168.1.12"}


def test_the_same_cloudevent_bare_and_wrapped_is_one_event(functions: Functions) -> None:
    bare = load_event("member_events/cloudevent_register")
    wrapped = load_event("member_events/eventgrid_wraps_cloudevent_register")
    assert wrapped["events"] == [bare]

    first = functions.invoke("member_events", bare)
    functions.emulator.admin("DELETE", "calls")
    again = functions.invoke("member_events", wrapped)

    assert first["events"][0]["status"] == "applied"
    assert again["events"][0]["replayed"] is True
    assert again["events"][0]["result"] == first["events"][0]["result"]
    assert remote_calls(functions) == {}
    assert idempotency_records(functions) == 1


# --- hook ownership --------------------------------------------------------------------------


def with_foreign_hook(functions: Functions) -> None:
    """asg-web also carries another team's launch hook on the same topic."""
    document = default_world_document()
    group = document["scaling_groups"][0]
    ours = group["hooks"][0]
    group["hooks"].append(
        {
            **copy.deepcopy(ours),
            "name": "log-upload",
            "notification_metadata": "team=logs",
            "default_result": "CONTINUE",
        }
    )
    functions.emulator.emulator.reset(World.model_validate(document))


def test_a_foreign_hook_on_the_same_group_is_never_completed(functions: Functions) -> None:
    with_foreign_hook(functions)
    ids, events = launch_many(functions, 1)
    (instance_id,) = ids
    records = [record for event in events for record in event["record"]]
    assert len(records) == 2  # one notification per hook

    reply = functions.invoke("member_events", {"record": records})
    functions.travel(15)
    tick = functions.tick()
    functions.invoke("member_events", {"record": records})  # redelivered: still left alone

    by_hook = {
        json.loads(r["smn"]["message"])["lifecycle_hook_name"]: e
        for r, e in zip(records, reply["events"], strict=True)
    }
    assert by_hook["elbsync-launch"]["status"] == "applied"
    assert by_hook["log-upload"]["status"] == "ignored"
    assert "log-upload" in by_hook["log-upload"]["reason"]
    assert reply["ok"] is True
    assert tick["decided"]["CONTINUE"] == 1
    actions = {
        a["lifecycle_hook_name"]: a for a in instance_state(functions, instance_id)["actions"]
    }
    assert actions["elbsync-launch"]["status"] == "CONTINUE"
    assert (actions["log-upload"]["status"], actions["log-upload"]["decisions"]) == ("HANGING", [])
    repo = functions.repository()
    assert repo.load(LifecycleAction, actions["log-upload"]["lifecycle_action_key"]) is None
    assert idempotency_records(functions) == 1


def test_the_foreign_hook_sample_is_acknowledged_and_ignored(functions: Functions) -> None:
    reply = functions.invoke("member_events", load_event("member_events/smn_foreign_hook"))

    (event,) = reply["events"]
    assert (reply["ok"], event["status"]) == (True, "ignored")
    assert "names neither 'elbsync' nor the binding" in event["reason"]
    assert remote_calls(functions) == {}
    assert idempotency_records(functions) == 0


def test_a_binding_that_lists_its_hooks_ignores_the_others(functions: Functions) -> None:
    bindings = json.loads(functions_bindings(functions))
    bindings["bindings"][0]["hooks"] = ["elbsync-terminate"]
    functions.env(ELBSYNC_BINDINGS=json.dumps(bindings))
    (instance_id,), event = launch(functions)

    reply = functions.invoke("member_events", event)

    assert reply["events"][0]["status"] == "ignored"
    assert "not one of binding web's hooks (elbsync-terminate)" in reply["events"][0]["reason"]
    assert decisions(functions, instance_id, "INSTANCE_LAUNCHING") == []


def functions_bindings(functions: Functions) -> str:
    from elbsync import runtime

    text = runtime.load_settings().bindings
    assert text is not None
    return text


# --- refusals name the record ----------------------------------------------------------------


def test_an_unknown_binding_is_refused_at_its_own_record(functions: Functions) -> None:
    event = load_event("member_events/smn_unknown_binding_in_second_record")

    reply = functions.invoke("member_events", event)

    good, bad = reply["events"]
    assert good["status"] != "rejected"
    assert bad["status"] == "rejected"
    assert bad["error"]["field"] == "record[1].smn.message.notification_metadata"
    assert "'purple'" in bad["error"]["message"]
    assert reply["ok"] is False


def test_an_instance_ecs_does_not_know_is_refused_at_its_id(functions: Functions) -> None:
    _, event = launch(functions)
    record = event["record"][0]
    message = json.loads(record["smn"]["message"])
    message["scaling_instance"]["instance_id"] = "0f0f0f0f-0000-4000-8000-000000000000"
    record["smn"]["message"] = json.dumps(message)
    record["smn"]["message_id"] = "edge-unknown-instance"
    delivery = {"record": [load_event("member_events/smn_foreign_hook")["record"][0], record]}

    reply = functions.invoke("member_events", delivery)

    assert reply["events"][1]["status"] == "rejected"
    field = reply["events"][1]["error"]["field"]
    assert field == "record[1].smn.message.scaling_instance.instance_id"


def test_a_bad_member_is_refused_at_its_event_and_index(functions: Functions) -> None:
    event = load_event("member_events/eventgrid_two_events")
    event["events"][1]["data"]["weights"][0]["address"] = "not-an-address"
    event["events"][1]["id"] = "edge-bad-address"

    reply = functions.invoke("member_events", event)

    assert reply["events"][0]["status"] == "applied"
    assert reply["events"][1]["error"]["field"] == "events[1].data.weights[0].address"


def test_an_id_reused_for_another_payload_is_refused_at_the_id(functions: Functions) -> None:
    event = load_event("member_events/cloudevent_register")
    functions.invoke("member_events", event)
    event["data"]["members"] = event["data"]["members"][:1]

    reply = functions.invoke("member_events", {"events": [event]})

    assert reply["events"][0]["status"] == "rejected"
    assert reply["events"][0]["at"] == "events[0].id"


# --- tolerant about what is not read --------------------------------------------------------


def test_cloudevent_attributes_elbsync_does_not_read_never_refuse_it(functions: Functions) -> None:
    reply = functions.invoke("member_events", load_event("member_events/cloudevent_extensions"))

    assert reply["events"][0]["status"] == "applied", reply
    assert "192.168.1.13" in static_members(functions)


def test_smn_fields_elbsync_does_not_read_never_refuse_a_notification(
    functions: Functions,
) -> None:
    sample = load_event("member_events/smn_unread_fields_any_type")["record"][0]
    _, event = launch(functions)
    record = event["record"][0]
    unread = {k: v for k, v in sample.items() if k != "smn"}
    smn = {**{k: v for k, v in sample["smn"].items() if k not in ("message", "message_id")}}
    message = json.loads(record["smn"]["message"])
    odd = json.loads(sample["smn"]["message"])
    message["tenant_id"] = odd["tenant_id"]
    message["scaling_instance"]["instance_name"] = odd["scaling_instance"]["instance_name"]
    message["scaling_group"]["scaling_config_id"] = odd["scaling_group"]["scaling_config_id"]
    delivery = {
        "record": [
            {
                **record,
                **unread,
                "smn": {**record["smn"], **smn, "message": json.dumps(message)},
            }
        ]
    }

    reply = functions.invoke("member_events", delivery)

    assert reply["events"][0]["status"] == "applied", reply


# --- counts and log lines per event ---------------------------------------------------------


def test_an_event_whose_members_are_all_missing_is_not_a_quiet_success(
    functions: Functions, logs: io.StringIO
) -> None:
    event = load_event("member_events/cloudevent_weights_unknown_members")

    reply = functions.invoke("member_events", event)

    (result,) = reply["events"]
    assert result["status"] == "refused"
    assert reply["ok"] is False
    assert result["result"]["counts"] == {"not_found": 2}
    assert reply["counts"]["members"] == {"not_found": 2}
    warnings = [line for line in log_lines(logs) if line["level"] == "warning"]
    assert [w["event"] for w in warnings] == ["member_not_found", "member_not_found"]
    assert {w["correlation_id"] for w in warnings} == {event["id"]}


def test_a_removal_of_members_already_gone_is_done_not_refused(functions: Functions) -> None:
    event = load_event("member_events/cloudevent_deregister")
    event["data"]["members"] = [{"address": "192.168.1.99", "protocol_port": 80}]

    reply = functions.invoke("member_events", event)

    (result,) = reply["events"]
    assert result["status"] == "applied"
    assert reply["ok"] is True
    assert result["result"]["counts"] == {"not_found": 1}


def test_a_refused_member_is_counted_and_logged_with_its_reason(
    functions: Functions, logs: io.StringIO
) -> None:
    event = load_event("member_events/cloudevent_deregister_not_owned")

    reply = functions.invoke("member_events", event)

    (result,) = reply["events"]
    assert result["status"] == "refused"
    assert result["result"]["counts"] == {"refused": 1}
    (warning,) = [line for line in log_lines(logs) if line["level"] == "warning"]
    assert warning["event"] == "member_refused"
    assert warning["reason"]
    assert warning["address"] == "192.168.1.11"


def test_each_record_of_a_delivery_logs_under_its_own_id(
    functions: Functions, logs: io.StringIO
) -> None:
    _, events = launch_many(functions, 2)
    records = [record for event in events for record in event["record"]]
    ids = [record["smn"]["message_id"] for record in records]

    reply = functions.invoke("member_events", {"record": records})

    assert [e["status"] for e in reply["events"]] == ["applied", "applied"]
    lines = log_lines(logs)
    tagged = [line["correlation_id"] for line in lines]
    # The work of record 0, then the work of record 1, then the invocation's own lines.
    first = tagged.index(ids[1])
    assert set(tagged[:first]) == {ids[0]}
    last = max(i for i, c in enumerate(tagged) if c == ids[1])
    assert set(tagged[first : last + 1]) == {ids[1]}
    assert last - first > 3
    assert {c for c in tagged[last + 1 :]} & set(ids) == set()  # a delivery of two has no one id


# --- the same through `elbsync invoke` -------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "sample", "code", "status"),
    [
        ("member_events", "member_events/smn_foreign_hook", 0, "ignored"),
        ("member_events", "member_events/cloudevent_register_same_id_other_source", 0, "applied"),
        ("member_events", "member_events/cloudevent_weights_unknown_members", 1, "refused"),
        ("check_poller", "check_poller/timer_not_json", 0, None),
    ],
)
def test_the_samples_behave_the_same_through_elbsync_invoke(
    functions: Functions,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    sample: str,
    code: int,
    status: str | None,
) -> None:
    from elbsync.devkit.cli import main as cli_main

    path = EVENTS / f"{sample}.json"
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    exit_code = cli_main(["invoke", function, "--event", str(path)])

    reply = json.loads(out.getvalue())
    assert exit_code == code, reply
    if status is None:
        assert [w["field"] for w in reply["warnings"]] == ["user_event"]
    else:
        assert reply["events"][0]["status"] == status
