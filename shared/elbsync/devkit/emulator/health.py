"""Member health and member check-job diagnosis, derived from the world's network rules.

A dedicated load balancer health-checks a member from its backend subnet's CIDR, on the health
monitor's port (or the member's own port) and transport protocol. The member's security groups
(stateful, allow rules only, so only ingress decides reachability) and its subnet's network ACL
(stateless, first match wins, default deny, so the reply must get out too) decide whether the
check gets through. :func:`member_health` turns that into ``operating_status``;
:func:`check_items` into the member check job's items, each failing item naming the one
dimension (protocol, port, address) that blocks the check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from elbsync.devkit.emulator.cloud import Cloud, MemberRecord, PoolState, ServerState
from elbsync.devkit.emulator.world import (
    AclRule,
    HealthMonitor,
    NetworkAcl,
    SecurityGroup,
    SecurityGroupRule,
)

__all__ = [
    "DIMENSIONS",
    "GROUPS",
    "ITEMS",
    "Dim",
    "HealthPath",
    "IpNetwork",
    "ItemSpec",
    "Packet",
    "PortRange",
    "RuleView",
    "Severity",
    "acl_views",
    "blocked_dimension",
    "check_items",
    "group_of",
    "health_path",
    "member_health",
    "parse_port_spec",
    "reachable",
    "render",
    "sg_views",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Dim = Literal["protocol", "destination_port", "destination_ip", "source_port", "source_ip"]
DIMENSIONS: tuple[Dim, ...] = (
    "protocol",
    "destination_port",
    "destination_ip",
    "source_port",
    "source_ip",
)
PortRange = tuple[int, int] | None


@dataclass(frozen=True)
class Packet:
    protocol: str
    source: IpNetwork
    destination: IpNetwork
    #: ``None``: an ephemeral port, so only a rule open on every port surely matches.
    source_port: int | None
    destination_port: int | None


@dataclass(frozen=True)
class RuleView:
    """A security-group or ACL rule in one shape: what it matches and what it does."""

    action: Literal["allow", "deny"]
    protocol: str
    source: str
    destination: str
    source_port: PortRange
    destination_port: PortRange

    def failing(self, packet: Packet) -> list[Dim]:
        """The dimensions in which this rule does not match ``packet``, in check order."""
        result: list[Dim] = []
        if self.protocol not in ("any", packet.protocol):
            result.append("protocol")
        if not _port_matches(self.destination_port, packet.destination_port, packet.protocol):
            result.append("destination_port")
        if not _covers(self.destination, packet.destination):
            result.append("destination_ip")
        if not _port_matches(self.source_port, packet.source_port, packet.protocol):
            result.append("source_port")
        if not _covers(self.source, packet.source):
            result.append("source_ip")
        return result

    def specific(self, dim: Dim) -> bool:
        return {
            "protocol": self.protocol != "any",
            "destination_port": self.destination_port not in (None, (1, 65535)),
            "destination_ip": ipaddress.ip_network(self.destination, strict=False).prefixlen > 0,
            "source_port": self.source_port not in (None, (1, 65535)),
            "source_ip": ipaddress.ip_network(self.source, strict=False).prefixlen > 0,
        }[dim]


def _port_matches(allowed: PortRange, port: int | None, protocol: str) -> bool:
    if allowed is None or protocol == "icmp":
        return True
    if port is None:
        return allowed == (1, 65535)
    return allowed[0] <= port <= allowed[1]


def _covers(prefix: str, network: IpNetwork) -> bool:
    rule = ipaddress.ip_network(prefix, strict=False)
    if rule.version != network.version:
        return False
    return network.subnet_of(rule)  # type: ignore[arg-type]


def parse_port_spec(spec: str | None) -> PortRange:
    """``"80"`` or ``"1024-65535"`` as an inclusive range; ``None`` for every port."""
    if spec is None or spec.strip() in ("", "any"):
        return None
    low, _, high = spec.partition("-")
    return (int(low), int(high or low))


def sg_views(rules: Sequence[SecurityGroupRule], direction: str) -> list[RuleView]:
    views = []
    for rule in rules:
        if rule.direction != direction:
            continue
        ports: PortRange = None
        if rule.port_range_min is not None or rule.port_range_max is not None:
            low = rule.port_range_min or rule.port_range_max or 1
            ports = (low, rule.port_range_max or low)
        any_ip = "::/0" if ":" in rule.remote_ip_prefix else "0.0.0.0/0"
        if direction == "ingress":
            views.append(
                RuleView("allow", rule.protocol, rule.remote_ip_prefix, any_ip, None, ports)
            )
        else:
            views.append(
                RuleView("allow", rule.protocol, any_ip, rule.remote_ip_prefix, None, ports)
            )
    return views


def acl_views(rules: Sequence[AclRule]) -> list[RuleView]:
    return [
        RuleView(
            rule.action,
            rule.protocol,
            rule.source_ip_address,
            rule.destination_ip_address,
            parse_port_spec(rule.source_port),
            parse_port_spec(rule.destination_port),
        )
        for rule in rules
    ]


def blocked_dimension(
    views: Sequence[RuleView], packet: Packet, *, first_match: bool
) -> Dim | None:
    """``None`` when ``packet`` gets through, else the dimension that stops it.

    ``first_match``: network ACL semantics (ordered, allow or deny, default deny); otherwise
    security-group semantics (any allow rule lets it through). An explicit deny is blamed on
    the first dimension it is specific about; no match at all on the first dimension in which
    the closest allow rule misses.
    """
    deny: RuleView | None = None
    for view in views:
        if not view.failing(packet):
            if view.action == "allow":
                return None
            if first_match:
                deny = view
                break
    if deny is not None:
        for dim in DIMENSIONS:
            if deny.specific(dim):
                return dim
    allows = [v for v in views if v.action == "allow"]
    if not allows:
        return "protocol"
    closest = min(allows, key=lambda v: len(v.failing(packet)))
    misses = closest.failing(packet)
    return misses[0] if misses else "protocol"


# The member check job's items, in the order the cloud lists them (show-member-check-job).

Severity = Literal["Major", "Tips"]


@dataclass(frozen=True)
class ItemSpec:
    name: str
    group: Literal["config", "acl", "security_group"]
    subject: Literal["config", "networkAcl", "securityGroup"]
    severity: Severity
    template: str


def _acl(name: str, severity: Severity, template: str) -> ItemSpec:
    return ItemSpec(name, "acl", "networkAcl", severity, template)


def _sg(name: str, template: str) -> ItemSpec:
    return ItemSpec(name, "security_group", "securityGroup", "Major", template)


_ACL_PROTOCOL = (
    "healthCheck {$hm_id}'s protocol is {$hc_protocol}, but the transport layer protocol "
    "corresponding to the protocol {$trans_protocol} is not allowed by ACL {$acl_id} "
)
_SG_PROTOCOL = (
    "healthCheck {$hm_id}'s protocol is {$hc_protocol}, but the transport layer protocol "
    "corresponding to the protocol {$transport_protocol} is not allowed by securityGroup "
    "{$security_group_id} "
)
ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(
        "check_hc_config_port",
        "config",
        "config",
        "Tips",
        "healthCheck {$hm_id}'s protocolPort {$protocol_port} is different from member port "
        "{$member_port}",
    ),
    _acl("acl_check_hc_protocol_egress", "Major", _ACL_PROTOCOL + "egress policies"),
    _acl(
        "acl_check_hc_dest_port_egress",
        "Major",
        "healthCheck destination port may not allowed by ACL {$acl_id} egress policies, it is "
        "recommended to open all destination ports",
    ),
    _acl(
        "acl_check_hc_dest_ip_egress",
        "Major",
        "healthCheck destination IP {$dest_ip} is not allowed by ACL {$acl_id} egress policies",
    ),
    _acl(
        "acl_check_hc_source_port_egress",
        "Major",
        "healthCheck source port {$source_port} is not allowed by ACL {$acl_id} egress policies",
    ),
    _acl(
        "acl_check_hc_source_ip_egress",
        "Major",
        "healthCheck source IP {$source_ip} is not allowed by ACL {$acl_id} egress policies",
    ),
    _acl("acl_check_hc_protocol_ingress", "Major", _ACL_PROTOCOL + "ingress policies"),
    _acl(
        "acl_check_hc_dest_port_ingress",
        "Major",
        "healthCheck destination port {$dest_port} is not allowed by ACL {$acl_id} ingress "
        "policies",
    ),
    _acl(
        "acl_check_hc_dest_ip_ingress",
        "Major",
        "healthCheck destination IP {$dest_ip} is not allowed by ACL {$acl_id} ingress policies",
    ),
    _acl(
        "acl_check_hc_source_port_ingress",
        "Tips",
        "healthCheck source port may not allowed by ACL {$acl_id} ingress policies, it is "
        "recommended to open all destination ports",
    ),
    _acl(
        "acl_check_hc_source_ip_ingress",
        "Major",
        "healthCheck source IP {$source_ip} is not allowed by ACL {$acl_id} ingress policies",
    ),
    _sg("security_group_check_hc_protocol_egress", _SG_PROTOCOL + "egress rules"),
    _sg(
        "security_group_check_hc_port_egress",
        "healthCheck dest port {$dest_port} is not allowed by securityGroup {$security_group_id} "
        "egress rules",
    ),
    _sg(
        "security_group_check_hc_source_ip_egress",
        "healthCheck source IP {$source_ip} is not allowed by securityGroup "
        "{$security_group_id} egress rules",
    ),
    _sg("security_group_check_hc_protocol_ingress", _SG_PROTOCOL + "ingress rules"),
    _sg(
        "security_group_check_hc_port_ingress",
        "healthCheck dest port {$dest_port} is not allowed by securityGroup {$security_group_id} "
        "ingress rules",
    ),
    _sg(
        "security_group_check_hc_source_ip_ingress",
        "healthCheck source IP {$source_ip} is not allowed by securityGroup "
        "{$security_group_id} ingress rules",
    ),
)
GROUPS: tuple[tuple[str, str], ...] = (
    ("config", "config"),
    ("acl", "networkAcl"),
    ("security_group", "securityGroup"),
)
_PLACEHOLDER = re.compile(r"\{\$(\w+)\}")


def render(template: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The filled reason and ``reason_params``: one value per placeholder, in the order the
    placeholders first appear in the template."""
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in names:
            names.append(match.group(1))
    reason = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return reason, [values[name] for name in names]


@dataclass(frozen=True)
class HealthPath:
    """Everything that decides whether a member's health check gets through."""

    member: MemberRecord
    monitor: HealthMonitor | None
    server: ServerState | None
    source: IpNetwork
    target: IpNetwork
    port: int
    transport: str
    groups: list[SecurityGroup]
    acl: NetworkAcl | None

    def ingress(self, protocol: str | None = None) -> Packet:
        return Packet(protocol or self.transport, self.source, self.target, None, self.port)

    def acl_egress(self) -> Packet:
        return Packet(self.transport, self.target, self.source, self.port, None)

    def sg_egress(self) -> Packet:
        return Packet(self.transport, self.target, self.source, None, self.port)


_TRANSPORT = {"UDP_CONNECT": "udp", "UDP": "udp", "QUIC": "udp"}


def health_path(cloud: Cloud, pool: PoolState, member: MemberRecord) -> HealthPath:
    lb = cloud.load_balancer_of_pool(pool)
    monitor = pool.model.health_monitor
    server = cloud.server_at(member.address, member.subnet_cidr_id)
    groups: list[SecurityGroup] = []
    subnet_id = member.subnet_cidr_id
    if server is not None:
        nic = cloud.interface_of(server, member.address)
        groups = [cloud.security_groups[g] for g in nic.security_group_ids]
        subnet_id = subnet_id or nic.subnet_id
    subnet = cloud.subnets.get(subnet_id) if subnet_id else None
    acl_id = subnet.network_acl_id if subnet else None
    kind = monitor.type if monitor else pool.model.protocol
    return HealthPath(
        member=member,
        monitor=monitor,
        server=server,
        source=ipaddress.ip_network(cloud.subnets[lb.health_check_subnet_id].cidr),
        target=ipaddress.ip_network(member.address),
        port=(monitor.monitor_port if monitor and monitor.monitor_port else member.protocol_port),
        transport=_TRANSPORT.get(kind, "tcp"),
        groups=groups,
        acl=cloud.network_acls.get(acl_id) if acl_id else None,
    )


def _sg_block(path: HealthPath, direction: str, packet: Packet) -> Dim | None:
    views = [v for g in path.groups for v in sg_views(g.rules, direction)]
    return blocked_dimension(views, packet, first_match=False)


def _acl_block(path: HealthPath, direction: str, packet: Packet) -> Dim | None:
    if path.acl is None:
        return None
    rules = path.acl.ingress_rules if direction == "ingress" else path.acl.egress_rules
    return blocked_dimension(acl_views(rules), packet, first_match=True)


def _needs_icmp(path: HealthPath) -> bool:
    return path.transport == "udp"


def reachable(path: HealthPath) -> bool:
    """Whether the health check and its reply get through the security groups and the ACL."""
    if _sg_block(path, "ingress", path.ingress()) is not None:
        return False
    if _needs_icmp(path) and _sg_block(path, "ingress", path.ingress("icmp")) is not None:
        return False
    if _acl_block(path, "ingress", path.ingress()) is not None:
        return False
    return _acl_block(path, "egress", path.acl_egress()) is None


def member_health(
    cloud: Cloud, pool: PoolState, member: MemberRecord, now: float
) -> tuple[str, dict[str, object] | None]:
    """``operating_status`` of ``member`` and, when a check fails, the reason object."""
    if pool.model.health_monitor is None:
        return "NO_MONITOR", None
    path = health_path(cloud, pool, member)
    if path.server is None or path.server.status != "ACTIVE" or not reachable(path):
        return "OFFLINE", _reason("CONNECT_TIMEOUT")
    ports = path.server.listening_ports
    if ports is not None and path.port not in ports:
        return "OFFLINE", _reason("CONNECT_REFUSED")
    since = max(member.health_since, path.server.started_at)
    if now - since < cloud.health_delay(pool):
        return "OFFLINE", None
    return "ONLINE", None


def _reason(code: str) -> dict[str, object]:
    return {"reason_code": code, "expected_response": None, "healthcheck_response": None}


# Check-job items.


def _sg_items(path: HealthPath) -> dict[str, Dim | None]:
    ingress = _sg_block(path, "ingress", path.ingress())
    icmp_blocked = _needs_icmp(path) and _sg_block(path, "ingress", path.ingress("icmp"))
    if ingress is None and icmp_blocked:
        ingress = "protocol"
    egress = _sg_block(path, "egress", path.sg_egress())
    return {
        "security_group_check_hc_protocol_ingress": _only(ingress, "protocol"),
        "security_group_check_hc_port_ingress": _only(ingress, "destination_port"),
        "security_group_check_hc_source_ip_ingress": _only(ingress, "source_ip"),
        "security_group_check_hc_protocol_egress": _only(egress, "protocol"),
        "security_group_check_hc_port_egress": _only(egress, "destination_port"),
        "security_group_check_hc_source_ip_egress": _only(egress, "destination_ip"),
    }


def _acl_items(path: HealthPath) -> dict[str, Dim | None]:
    ingress = _acl_block(path, "ingress", path.ingress())
    egress = _acl_block(path, "egress", path.acl_egress())
    result: dict[str, Dim | None] = {}
    for direction, dim in (("ingress", ingress), ("egress", egress)):
        result[f"acl_check_hc_protocol_{direction}"] = _only(dim, "protocol")
        result[f"acl_check_hc_dest_port_{direction}"] = _only(dim, "destination_port")
        result[f"acl_check_hc_dest_ip_{direction}"] = _only(dim, "destination_ip")
        result[f"acl_check_hc_source_port_{direction}"] = _only(dim, "source_port")
        result[f"acl_check_hc_source_ip_{direction}"] = _only(dim, "source_ip")
    return result


def _only(blocked: Dim | None, dim: Dim) -> Dim | None:
    return dim if blocked == dim else None


def _params(path: HealthPath, spec: ItemSpec) -> dict[str, str]:
    egress = spec.name.endswith("_egress")
    source = str(path.source)
    target = path.member.address
    transport = path.transport.upper()
    sg_protocol = spec.name == "security_group_check_hc_protocol_ingress"
    if sg_protocol and _needs_icmp(path) and _sg_block(path, "ingress", path.ingress()) is None:
        transport = "ICMP"
    return {
        "hm_id": path.monitor.id if path.monitor else "",
        "hc_protocol": path.monitor.type if path.monitor else "",
        "trans_protocol": transport,
        "transport_protocol": transport,
        "acl_id": path.acl.id if path.acl else "",
        "security_group_id": path.groups[0].id if path.groups else "",
        "protocol_port": str(path.port),
        "member_port": str(path.member.protocol_port),
        "dest_port": str(path.port),
        "source_port": str(path.port),
        "dest_ip": source if egress else target,
        "source_ip": target if egress and spec.group == "acl" else source,
    }


def check_items(path: HealthPath, job_id: str, subject: str) -> list[dict[str, object]]:
    """Every item of the groups ``subject`` asks for, failing ones with their reason."""
    failing: dict[str, Dim | None] = {
        "check_hc_config_port": (
            "destination_port"
            if path.monitor and path.monitor.monitor_port not in (None, path.member.protocol_port)
            else None
        ),
        **_acl_items(path),
        **_sg_items(path),
    }
    items: list[dict[str, object]] = []
    for spec in ITEMS:
        if subject != "all" and spec.subject != subject:
            continue
        reason: str | None = None
        params: list[str] = []
        if failing[spec.name] is not None:
            reason, params = render(spec.template, _params(path, spec))
        items.append(
            {
                "name": spec.name,
                "reason": reason,
                "severity": spec.severity,
                "subject": spec.subject,
                "job_id": job_id,
                "reason_template": spec.template,
                "reason_params": params,
            }
        )
    return items


def group_of(item: dict[str, object]) -> str:
    return {"config": "config", "networkAcl": "acl", "securityGroup": "security_group"}[
        str(item["subject"])
    ]
