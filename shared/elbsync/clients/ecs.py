"""ECS: where an instance sits on the network (every call to the ECS API)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from elbsync.http.session import ApiSession, path_id, reply_list

__all__ = ["EcsClient", "FixedIp", "Interface"]


class FixedIp(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    subnet_id: str
    ip_address: str


class Interface(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    port_id: str
    port_state: str | None = None
    net_id: str | None = None
    mac_addr: str | None = None
    fixed_ips: list[FixedIp] = Field(default_factory=list)

    def ipv4(self) -> FixedIp | None:
        """The first IPv4 address: its subnet id is what ELB wants as ``subnet_cidr_id``."""
        return next((ip for ip in self.fixed_ips if ":" not in ip.ip_address), None)


class EcsClient:
    def __init__(self, session: ApiSession, *, endpoint: str, project_id: str) -> None:
        self._session = session
        self._base = f"{endpoint.rstrip('/')}/v1/{path_id(project_id, 'project_id')}/cloudservers"

    def interfaces(self, server_id: str) -> list[Interface]:
        url = f"{self._base}/{path_id(server_id, 'server_id')}/os-interface"
        body = self._session.call("GET", url, operation="ecs.list_interfaces")
        return reply_list(body, "interfaceAttachments", Interface, "ecs.list_interfaces")
