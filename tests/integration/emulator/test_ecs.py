"""ECS os-interface: the subnet of each server in the world."""

from __future__ import annotations

import pytest

from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration


def test_each_server_lists_its_interfaces_with_subnet_and_address(
    emulator: EmulatorHandle,
) -> None:
    for server in emulator.world.servers:
        path = f"/v1/{emulator.project_id}/cloudservers/{server.id}/os-interface"
        response = emulator.client().get(path)
        assert response.status_code == 200
        (nic,) = response.json()["interfaceAttachments"]
        expected = server.interfaces[0]
        assert nic["fixed_ips"] == [
            {"subnet_id": expected.subnet_id, "ip_address": expected.ip_address}
        ]
        assert nic["port_id"] == expected.port_id
        assert nic["mac_addr"] == expected.mac_addr
        subnet = next(s for s in emulator.world.subnets if s.id == expected.subnet_id)
        assert nic["net_id"] == subnet.network_id
        assert nic["port_state"] == ("ACTIVE" if server.status == "ACTIVE" else "DOWN")


def test_an_unknown_server_is_404_in_the_ecs_error_shape(emulator: EmulatorHandle) -> None:
    path = f"/v1/{emulator.project_id}/cloudservers/no-such-server/os-interface"
    response = emulator.client().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Ecs.0114"
    assert "no-such-server" in response.json()["error"]["message"]
