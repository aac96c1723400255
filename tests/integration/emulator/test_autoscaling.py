"""Auto Scaling lifecycle hooks: events, hanging actions, callbacks, EXTEND and timeouts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from elbsync.http.auth.sdk_hmac import AkSkAuth

from tests.fixtures.emulator import EmulatorHandle, default_world_document

pytestmark = pytest.mark.integration


def _launch(emulator: EmulatorHandle, **body: Any) -> dict[str, Any]:
    group = emulator.scaling_group_id("asg-web")
    launched: dict[str, Any] = emulator.admin(
        "POST", f"autoscaling/groups/{group}/launch", body or {"count": 1}
    )
    return launched


def _callback(emulator: EmulatorHandle, body: dict[str, Any]) -> httpx.Response:
    group = emulator.scaling_group_id("asg-web")
    path = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook/{group}/callback"
    return emulator.client().put(path, json=body)


def _hanging(emulator: EmulatorHandle, instance_id: str | None = None) -> list[dict[str, Any]]:
    group = emulator.scaling_group_id("asg-web")
    path = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook/{group}/list"
    params = {"instance_id": instance_id} if instance_id else None
    response = emulator.client().get(path, params=params)
    assert response.status_code == 200, response.text
    infos: list[dict[str, Any]] = response.json()["instance_hanging_info"]
    return infos


def _instance(emulator: EmulatorHandle, instance_id: str) -> dict[str, Any]:
    for instance in emulator.admin("GET", "autoscaling/instances")["instances"]:
        if instance["instance_id"] == instance_id:
            found: dict[str, Any] = instance
            return found
    raise AssertionError(f"no instance {instance_id}")


def _assert_as_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert len(response.headers["X-Request-Id"]) == 32


def test_a_launch_produces_the_smn_event_the_cloud_would_deliver(emulator: EmulatorHandle) -> None:
    launched = _launch(emulator, count=1, function_name="member_events")
    (event,) = launched["events"]
    assert set(event) == {"record", "functionname", "requestId", "timestamp"}
    assert event["functionname"] == "member_events"
    (record,) = event["record"]
    assert record["event_version"] == "1.0"
    assert record["event_source"] == "smn"
    assert record["event_subscription_urn"].startswith("urn:fss:emu-region-1:")
    smn = record["smn"]
    assert smn["type"] == "notification"
    assert len(smn["message_id"]) == 32
    assert smn["topic_urn"] == emulator.world.scaling_groups[0].hooks[0].topic_urn
    assert isinstance(smn["message"], str)
    message = json.loads(smn["message"])
    instance = launched["instances"][0]
    assert message["service"] == "AutoScaling"
    assert message["tenant_id"] == emulator.project_id
    assert message["lifecycle_hook_type"] == "INSTANCE_LAUNCHING"
    assert message["lifecycle_hook_name"] == "elbsync-launch"
    assert message["notification_metadata"] == "elbsync"
    assert message["scaling_instance"]["instance_id"] == instance["instance_id"]
    assert message["scaling_instance"]["instance_ip"] == instance["instance_ip"]
    assert message["scaling_group"] == {
        "scaling_group_id": emulator.scaling_group_id("asg-web"),
        "scaling_group_name": "asg-web",
        "scaling_config_id": emulator.world.scaling_groups[0].scaling_config_id,
        "scaling_config_name": "web-config",
    }
    assert message["lifecycle_action_key"] == instance["actions"][0]["lifecycle_action_key"]
    assert instance["lifecycle_state"] == "PENDING_WAIT"


def test_a_launched_instance_is_hanging_and_listed_with_its_key(emulator: EmulatorHandle) -> None:
    launched = _launch(emulator, count=2)
    first = launched["instances"][0]
    infos = _hanging(emulator, first["instance_id"])
    assert len(infos) == 1
    info = infos[0]
    assert info["instance_id"] == first["instance_id"]
    assert info["scaling_group_id"] == emulator.scaling_group_id("asg-web")
    assert info["lifecycle_hook_name"] == "elbsync-launch"
    assert info["lifecycle_action_key"] == first["actions"][0]["lifecycle_action_key"]
    assert info["default_result"] == "ABANDON"
    assert info["timeout"].endswith("Z")
    assert len(_hanging(emulator)) == 2


def test_a_launched_instance_has_a_running_server_with_an_interface(
    emulator: EmulatorHandle,
) -> None:
    instance = _launch(emulator)["instances"][0]
    path = f"/v1/{emulator.project_id}/cloudservers/{instance['instance_id']}/os-interface"
    body = emulator.client().get(path).json()
    (nic,) = body["interfaceAttachments"]
    assert nic["fixed_ips"] == [
        {"subnet_id": emulator.subnet_id("subnet-app"), "ip_address": instance["instance_ip"]}
    ]


def test_continue_by_key_completes_the_action_once(emulator: EmulatorHandle) -> None:
    instance = _launch(emulator)["instances"][0]
    key = instance["actions"][0]["lifecycle_action_key"]
    body = {"lifecycle_action_key": key, "lifecycle_action_result": "CONTINUE"}
    first = _callback(emulator, body)
    assert first.status_code == 204
    assert first.content == b""
    second = _callback(emulator, body)
    _assert_as_error(second, 400, "AS.4003")
    state = _instance(emulator, instance["instance_id"])
    assert state["lifecycle_state"] == "INSERVICE"
    (action,) = state["actions"]
    assert action["status"] == "CONTINUE"
    assert [(d["result"], d["source"]) for d in action["decisions"]] == [("CONTINUE", "callback")]
    assert action["rejected_callbacks"] == 1
    assert _hanging(emulator, instance["instance_id"]) == []


def test_a_callback_by_instance_id_and_hook_name_completes_the_action(
    emulator: EmulatorHandle,
) -> None:
    instance = _launch(emulator)["instances"][0]
    response = _callback(
        emulator,
        {
            "instance_id": instance["instance_id"],
            "lifecycle_hook_name": "elbsync-launch",
            "lifecycle_action_result": "ABANDON",
        },
    )
    assert response.status_code == 204
    state = _instance(emulator, instance["instance_id"])
    assert state["actions"][0]["status"] == "ABANDON"
    assert state["lifecycle_state"] == "REMOVED"


def test_the_action_key_wins_over_the_instance_id(emulator: EmulatorHandle) -> None:
    launched = _launch(emulator, count=2)["instances"]
    key = launched[0]["actions"][0]["lifecycle_action_key"]
    response = _callback(
        emulator,
        {
            "lifecycle_action_key": key,
            "instance_id": launched[1]["instance_id"],
            "lifecycle_hook_name": "elbsync-launch",
            "lifecycle_action_result": "CONTINUE",
        },
    )
    assert response.status_code == 204
    assert _instance(emulator, launched[0]["instance_id"])["lifecycle_state"] == "INSERVICE"
    assert _instance(emulator, launched[1]["instance_id"])["lifecycle_state"] == "PENDING_WAIT"


def test_an_abandoned_launch_removes_the_server(emulator: EmulatorHandle) -> None:
    instance = _launch(emulator)["instances"][0]
    key = instance["actions"][0]["lifecycle_action_key"]
    _callback(emulator, {"lifecycle_action_key": key, "lifecycle_action_result": "ABANDON"})
    path = f"/v1/{emulator.project_id}/cloudservers/{instance['instance_id']}/os-interface"
    assert emulator.client().get(path).status_code == 404


def test_extend_adds_an_hour_and_the_default_result_waits_for_it(emulator: EmulatorHandle) -> None:
    instance = _launch(emulator)["instances"][0]
    key = instance["actions"][0]["lifecycle_action_key"]
    before = _hanging(emulator, instance["instance_id"])[0]["timeout"]
    extend = {"lifecycle_action_key": key, "lifecycle_action_result": "EXTEND"}
    assert _callback(emulator, extend).status_code == 204
    after = _hanging(emulator, instance["instance_id"])[0]["timeout"]
    assert before < after
    emulator.advance(601)
    assert _instance(emulator, instance["instance_id"])["lifecycle_state"] == "PENDING_WAIT"
    emulator.advance(3600)
    state = _instance(emulator, instance["instance_id"])
    assert state["lifecycle_state"] == "REMOVED"
    assert [(d["result"], d["source"]) for d in state["actions"][0]["decisions"]] == [
        ("EXTEND", "callback"),
        ("ABANDON", "timeout"),
    ]


def test_the_default_result_is_applied_at_the_hook_timeout(emulator: EmulatorHandle) -> None:
    instance = _launch(emulator)["instances"][0]
    emulator.advance(599)
    assert _instance(emulator, instance["instance_id"])["actions"][0]["status"] == "HANGING"
    emulator.advance(2)
    state = _instance(emulator, instance["instance_id"])
    assert state["actions"][0]["status"] == "ABANDON"
    assert state["actions"][0]["decisions"][0]["source"] == "timeout"
    key = state["actions"][0]["lifecycle_action_key"]
    late = _callback(emulator, {"lifecycle_action_key": key, "lifecycle_action_result": "CONTINUE"})
    _assert_as_error(late, 400, "AS.4003")


def test_a_terminating_instance_waits_and_continue_removes_it(emulator: EmulatorHandle) -> None:
    group = emulator.scaling_group_id("asg-web")
    web1 = emulator.server_id("web-1")
    result = emulator.admin(
        "POST", f"autoscaling/groups/{group}/terminate", {"instance_ids": [web1]}
    )
    (event,) = result["events"]
    message = json.loads(event["record"][0]["smn"]["message"])
    assert message["lifecycle_hook_type"] == "INSTANCE_TERMINATING"
    assert message["scaling_instance"]["instance_ip"] == "192.168.1.10"
    assert _instance(emulator, web1)["lifecycle_state"] == "REMOVING_WAIT"
    body = {
        "lifecycle_action_key": message["lifecycle_action_key"],
        "lifecycle_action_result": "CONTINUE",
    }
    assert _callback(emulator, body).status_code == 204
    assert _instance(emulator, web1)["lifecycle_state"] == "REMOVED"
    path = f"/v1/{emulator.project_id}/cloudservers/{web1}/os-interface"
    assert emulator.client().get(path).status_code == 404


def test_a_group_without_hooks_launches_straight_into_service(
    emulator_factory: Any,
) -> None:
    document = default_world_document()
    document["scaling_groups"][0]["hooks"] = []
    custom: EmulatorHandle = emulator_factory(document)
    launched = _launch(custom)
    assert launched["events"] == []
    assert launched["instances"][0]["lifecycle_state"] == "INSERVICE"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"lifecycle_action_key": str(uuid.uuid4()), "lifecycle_action_result": "CONTINUE"},
            404,
            "AS.0007",
        ),
        ({"lifecycle_action_result": "CONTINUE"}, 400, "AS.0022"),
        (
            {
                "instance_id": "i-unknown",
                "lifecycle_hook_name": "elbsync-launch",
                "lifecycle_action_result": "CONTINUE",
            },
            404,
            "AS.0007",
        ),
        ({"lifecycle_action_key": "k", "lifecycle_action_result": "MAYBE"}, 400, "AS.0022"),
    ],
    ids=["unknown key", "no target", "unknown instance", "unknown result"],
)
def test_a_bad_callback_answers_in_the_auto_scaling_error_shape(
    emulator: EmulatorHandle, body: dict[str, Any], status: int, code: str
) -> None:
    _assert_as_error(_callback(emulator, body), status, code)


def test_an_empty_callback_body_is_as_0002(emulator: EmulatorHandle) -> None:
    group = emulator.scaling_group_id("asg-web")
    path = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook/{group}/callback"
    _assert_as_error(emulator.client().put(path, content=b""), 400, "AS.0002")


def test_an_unknown_scaling_group_is_404(emulator: EmulatorHandle) -> None:
    path = f"/autoscaling-api/v1/{emulator.project_id}/scaling_instance_hook/{uuid.uuid4()}/list"
    _assert_as_error(emulator.client().get(path), 404, "AS.0007")


def test_a_callback_for_another_project_is_as_0008(emulator: EmulatorHandle) -> None:
    group = emulator.scaling_group_id("asg-web")
    other_project = emulator.world.credentials[2].project_id
    path = f"/autoscaling-api/v1/{other_project}/scaling_instance_hook/{group}/callback"
    client = emulator.client(AkSkAuth(emulator.access_key, emulator.secret_key))
    response = client.put(path, json={"lifecycle_action_result": "CONTINUE"})
    _assert_as_error(response, 400, "AS.0008")
