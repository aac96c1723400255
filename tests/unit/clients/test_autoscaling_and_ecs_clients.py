from __future__ import annotations

import json

import pytest
from elbsync.clients.autoscaling import AutoScalingClient
from elbsync.clients.ecs import EcsClient
from elbsync.errors import BadRequestError, InputError

from tests.unit.clients.fake_cloud import FakeCloud

HANGING = {
    "instance_id": "i-1",
    "scaling_group_id": "g-1",
    "lifecycle_hook_name": "hook",
    "lifecycle_action_key": "key-1",
}


def test_continuing_by_action_key_releases_the_instance(
    autoscaling: AutoScalingClient, cloud: FakeCloud
) -> None:
    cloud.hanging["key-1"] = HANGING

    autoscaling.complete_lifecycle_action("g-1", "CONTINUE", action_key="key-1")

    assert cloud.completed == [
        {"lifecycle_action_result": "CONTINUE", "lifecycle_action_key": "key-1"}
    ]
    assert cloud.requests[0].method == "PUT"
    assert cloud.requests[0].url.path.endswith("/scaling_instance_hook/g-1/callback")


def test_completing_by_instance_and_hook_name_sends_both(
    autoscaling: AutoScalingClient, cloud: FakeCloud
) -> None:
    with pytest.raises(BadRequestError):  # the fake knows only action keys
        autoscaling.complete_lifecycle_action("g-1", "ABANDON", instance_id="i-1", hook_name="hook")

    assert json.loads(cloud.requests[0].content) == {
        "lifecycle_action_result": "ABANDON",
        "instance_id": "i-1",
        "lifecycle_hook_name": "hook",
    }


def test_completing_without_key_or_instance_is_refused(autoscaling: AutoScalingClient) -> None:
    with pytest.raises(InputError):
        autoscaling.complete_lifecycle_action("g-1", "CONTINUE")


def test_a_callback_for_an_action_no_longer_hanging_is_a_typed_error(
    autoscaling: AutoScalingClient, cloud: FakeCloud
) -> None:
    with pytest.raises(BadRequestError) as info:
        autoscaling.complete_lifecycle_action("g-1", "CONTINUE", action_key="gone")
    assert info.value.error_code == "AS.4100"
    assert cloud.calls["as.callback"] == 1


def test_hanging_instances_are_listed_and_filtered(
    autoscaling: AutoScalingClient, cloud: FakeCloud
) -> None:
    cloud.hanging["key-1"] = HANGING
    cloud.hanging["key-2"] = {**HANGING, "instance_id": "i-2", "lifecycle_action_key": "key-2"}

    everything = autoscaling.list_hanging_instances("g-1")
    one = autoscaling.list_hanging_instances("g-1", instance_id="i-2")

    assert sorted(h.instance_id for h in everything) == ["i-1", "i-2"]
    assert [h.lifecycle_action_key for h in one] == ["key-2"]


def test_an_instance_interface_gives_its_ipv4_address_and_subnet(ecs: EcsClient) -> None:
    interfaces = ecs.interfaces("server-1")

    ipv4 = interfaces[0].ipv4()
    assert ipv4 is not None
    assert (ipv4.ip_address, ipv4.subnet_id) == ("192.168.0.5", "subnet-1")
    assert interfaces[0].port_id == "port-server-1"
