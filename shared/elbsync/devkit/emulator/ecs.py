"""ECS: the network interfaces of a server (``os-interface``), which give its subnet."""

from __future__ import annotations

from elbsync.devkit.emulator.cloud import Cloud
from elbsync.devkit.emulator.replies import Call, EmulatedApiError, Reply

__all__ = ["NOT_FOUND_CODE", "list_interfaces"]

#: ECS's "server does not exist" code; the exact code is unverified (see docs/emulator.md).
NOT_FOUND_CODE = "Ecs.0114"


def list_interfaces(cloud: Cloud, call: Call) -> Reply:
    server_id = call.params["server_id"]
    server = cloud.servers.get(server_id)
    if server is None or server.project_id != call.project_id:
        raise EmulatedApiError(
            404, NOT_FOUND_CODE, f"Instance[{server_id}] could not be found.", style="legacy"
        )
    attachments = []
    for index, nic in enumerate(server.interfaces):
        subnet = cloud.subnets[nic.subnet_id]
        attachments.append(
            {
                "port_state": "ACTIVE" if server.status == "ACTIVE" else "DOWN",
                "fixed_ips": [{"subnet_id": subnet.id, "ip_address": nic.ip_address}],
                "net_id": subnet.network_id or subnet.id,
                "port_id": nic.port_id or f"{server.id[:8]}-port-{index}",
                "mac_addr": nic.mac_addr or f"fa:16:3e:00:00:{index:02x}",
                "delete_on_termination": index == 0,
                "driver_mode": "virtio",
            }
        )
    return Reply(
        200,
        {
            "interfaceAttachments": attachments,
            "attachableQuantity": {"free_nic": max(0, 12 - len(attachments))},
        },
    )
