"""The world file: everything that exists in the emulated cloud, as pydantic models.

A world is read once (from JSON, checked against ``world.schema.json``) and never changed: the
emulator copies what it needs into its own mutable state, so ``reset`` always goes back to the
file. Cross references (a pool's listener, a server's subnet) are checked when the world loads,
so a typo in a world file fails at start-up with the path of the bad field, not mid-test.
"""

from __future__ import annotations

import ipaddress
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from elbsync.errors import ConfigError

__all__ = [
    "DEFAULT_WORLD_FILE",
    "SCHEMA_FILE",
    "AclRule",
    "Behaviour",
    "Credential",
    "FaultSpec",
    "HealthMonitor",
    "IamToken",
    "Id",
    "InitialMember",
    "InstanceTemplate",
    "Interface",
    "LifecycleHook",
    "Listener",
    "LoadBalancer",
    "NetworkAcl",
    "Pool",
    "Port",
    "Protocol",
    "ScalingGroup",
    "Seconds",
    "SecurityGroup",
    "SecurityGroupRule",
    "Server",
    "Subnet",
    "World",
    "default_world_path",
    "load_world",
    "parse_world",
    "world_schema",
]

DEFAULT_WORLD_FILE = "default_world.json"
SCHEMA_FILE = "world.schema.json"

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(ge=0, le=86400 * 7)]
Protocol = Literal["tcp", "udp", "icmp", "any"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Credential(_Model):
    """An AK/SK pair scoped to one project (and optionally a temporary security token)."""

    access_key: str = Field(min_length=1, max_length=128)
    secret_key: str = Field(min_length=1, max_length=256)
    project_id: Id
    security_token: str | None = Field(
        default=None, description="When set, requests must carry it as X-Security-Token."
    )


class IamToken(_Model):
    token: str = Field(min_length=1)
    project_id: Id


class Subnet(_Model):
    """A VPC subnet. ``id`` is the IPv4 subnet id that ELB calls ``subnet_cidr_id``."""

    id: Id
    name: str = ""
    cidr: str
    vpc_id: Id
    network_id: Id | None = Field(default=None, description="ECS net_id; defaults to the id.")
    network_acl_id: Id | None = None

    @model_validator(mode="after")
    def _cidr_is_a_network(self) -> Subnet:
        ipaddress.ip_network(self.cidr, strict=True)
        return self


class SecurityGroupRule(_Model):
    """An allow rule (security groups have no deny rules). ``None`` ports mean all ports."""

    direction: Literal["ingress", "egress"]
    protocol: Protocol = "any"
    port_range_min: Port | None = None
    port_range_max: Port | None = None
    remote_ip_prefix: str = "0.0.0.0/0"


class SecurityGroup(_Model):
    id: Id
    name: str = ""
    rules: list[SecurityGroupRule] = Field(default_factory=list)


class AclRule(_Model):
    """One network ACL rule; rules are matched in order and the first match decides."""

    action: Literal["allow", "deny"]
    protocol: Protocol = "any"
    source_ip_address: str = "0.0.0.0/0"
    destination_ip_address: str = "0.0.0.0/0"
    source_port: str | None = Field(default=None, description='"80" or "1024-65535"; None = all')
    destination_port: str | None = None


class NetworkAcl(_Model):
    """A subnet's network ACL. Traffic that matches no rule is denied, as in the cloud."""

    id: Id
    name: str = ""
    ingress_rules: list[AclRule] = Field(default_factory=list)
    egress_rules: list[AclRule] = Field(default_factory=list)


class HealthMonitor(_Model):
    id: Id
    type: Literal["TCP", "UDP_CONNECT", "HTTP", "HTTPS", "GRPC"] = "TCP"
    monitor_port: Port | None = Field(default=None, description="None: the member's own port")
    delay: int = Field(default=5, ge=1, le=50)
    timeout: int = Field(default=3, ge=1, le=50)
    max_retries: int = Field(default=3, ge=1, le=10)


class InitialMember(_Model):
    id: Id
    address: str
    protocol_port: Port
    weight: int = Field(default=1, ge=0, le=100)
    name: str = ""
    subnet_cidr_id: Id | None = None


class Pool(_Model):
    id: Id
    name: str = ""
    protocol: Literal["TCP", "UDP", "HTTP", "HTTPS", "QUIC", "GRPC", "TLS"] = "HTTP"
    lb_algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "QUIC_CID"] = (
        "ROUND_ROBIN"
    )
    health_monitor: HealthMonitor | None = None
    member_deletion_protection_enable: bool = False
    member_quota: int | None = Field(default=None, ge=0, description="None: behaviour default")
    health_delay_s: Seconds | None = Field(default=None, description="None: behaviour default")
    members: list[InitialMember] = Field(default_factory=list)


class Listener(_Model):
    id: Id
    name: str = ""
    protocol: Literal["TCP", "UDP", "HTTP", "HTTPS", "QUIC", "TLS"] = "HTTP"
    protocol_port: Port
    default_pool_id: Id | None = None


class LoadBalancer(_Model):
    id: Id
    name: str = ""
    project_id: Id
    vip_subnet_id: Id
    backend_subnet_id: Id | None = Field(
        default=None, description="Where health checks come from; defaults to the VIP subnet."
    )
    ip_target_enable: bool = False
    busy_after_write_s: Seconds | None = Field(default=None, description="None: behaviour")
    listeners: list[Listener] = Field(default_factory=list)
    pools: list[Pool] = Field(default_factory=list)

    @property
    def health_check_subnet_id(self) -> str:
        return self.backend_subnet_id or self.vip_subnet_id


class Interface(_Model):
    subnet_id: Id
    ip_address: str
    port_id: Id | None = None
    mac_addr: str | None = None
    security_group_ids: list[Id] = Field(default_factory=list)


class Server(_Model):
    id: Id
    name: str = ""
    project_id: Id
    status: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE"
    interfaces: list[Interface] = Field(min_length=1)
    listening_ports: list[Port] | None = Field(
        default=None, description="Ports a service answers on; None: every port answers."
    )


class LifecycleHook(_Model):
    name: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    default_result: Literal["ABANDON", "CONTINUE"] = "ABANDON"
    timeout_s: int = Field(default=3600, ge=60, le=86400)
    topic_urn: str = "urn:smn:emu-region-1:0:elbsync-lifecycle"
    notification_metadata: str = Field(default="", max_length=256)


class InstanceTemplate(_Model):
    """What a launched instance looks like: its subnet, security groups and ports."""

    subnet_id: Id
    security_group_ids: list[Id] = Field(default_factory=list)
    name_prefix: str = "as-instance"
    listening_ports: list[Port] | None = None


class ScalingGroup(_Model):
    id: Id
    name: str = ""
    project_id: Id
    scaling_config_id: Id
    scaling_config_name: str = ""
    hooks: list[LifecycleHook] = Field(default_factory=list)
    instance_template: InstanceTemplate
    instance_ids: list[Id] = Field(default_factory=list, description="Servers in service")


class Behaviour(_Model):
    """Knobs for timing and limits. Every duration is in (virtual) seconds."""

    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Added to every call")
    busy_after_write_s: Seconds = 0.5
    check_job_duration_s: Seconds = 2.0
    health_delay_s: Seconds = 10.0
    member_quota: int = Field(default=500, ge=0)
    max_batch: int = Field(default=200, ge=1)
    max_skew_s: float = Field(default=900.0, ge=0, description="Allowed X-Sdk-Date skew")


class FaultSpec(_Model):
    """An injected failure: by rate, by schedule (the next N calls), or both.

    ``kind``: ``throttle`` (429 APIG.0308), ``error`` (``status``, 500 or 503), ``drop`` (close
    the connection without a reply, the operation not run), ``latency`` (``latency_ms`` added,
    then served normally), ``lose_reply`` (the operation runs, then the connection is closed
    without its reply) or ``slow_reply`` (the operation runs, then its reply waits
    ``latency_ms``, past a client's timeout). The last two are the lost replies of a real
    network: a write that happened although its caller never heard so.
    """

    operation: str = Field(description='An operation name such as "elb.batch_add", or "*"')
    kind: Literal["throttle", "error", "drop", "latency", "lose_reply", "slow_reply"]
    status: int = Field(default=503, ge=400, le=599)
    error_code: str | None = None
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    rate: float = Field(default=1.0, ge=0, le=1)
    next_calls: int | None = Field(default=None, ge=1, description="Only the next N calls")
    after_calls: int = Field(default=0, ge=0, description="Skip this many matching calls first")
    retry_after_s: int | None = Field(default=None, ge=0)


class World(_Model):
    description: str = ""
    region: str = "emu-region-1"
    credentials: list[Credential] = Field(default_factory=list)
    iam_tokens: list[IamToken] = Field(default_factory=list)
    subnets: list[Subnet] = Field(default_factory=list)
    security_groups: list[SecurityGroup] = Field(default_factory=list)
    network_acls: list[NetworkAcl] = Field(default_factory=list)
    load_balancers: list[LoadBalancer] = Field(default_factory=list)
    servers: list[Server] = Field(default_factory=list)
    scaling_groups: list[ScalingGroup] = Field(default_factory=list)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    faults: list[FaultSpec] = Field(default_factory=list)
    seed: int = Field(default=0, description="Seeds the random draws of rate-based faults")

    @model_validator(mode="after")
    def _references_resolve(self) -> World:
        _check_references(self)
        return self


def _unique(kind: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {kind} id {item!r}")
        seen.add(item)
    return seen


def _check_references(world: World) -> None:
    subnets = {s.id: s for s in world.subnets}
    _unique("subnet", [s.id for s in world.subnets])
    groups = _unique("security group", [g.id for g in world.security_groups])
    acls = _unique("network ACL", [a.id for a in world.network_acls])
    servers = _unique("server", [s.id for s in world.servers])
    _unique("load balancer", [lb.id for lb in world.load_balancers])
    _unique("scaling group", [g.id for g in world.scaling_groups])
    _unique("listener", [li.id for lb in world.load_balancers for li in lb.listeners])
    _unique("pool", [p.id for lb in world.load_balancers for p in lb.pools])
    _unique("member", [m.id for lb in world.load_balancers for p in lb.pools for m in p.members])
    for subnet in world.subnets:
        if subnet.network_acl_id and subnet.network_acl_id not in acls:
            raise ValueError(f"subnet {subnet.id}: unknown network_acl_id {subnet.network_acl_id}")
    for lb in world.load_balancers:
        for ref in (lb.vip_subnet_id, lb.health_check_subnet_id):
            if ref not in subnets:
                raise ValueError(f"load balancer {lb.id}: unknown subnet {ref}")
        pools = {p.id for p in lb.pools}
        for listener in lb.listeners:
            if listener.default_pool_id and listener.default_pool_id not in pools:
                raise ValueError(
                    f"listener {listener.id}: default_pool_id {listener.default_pool_id} "
                    f"is not a pool of load balancer {lb.id}"
                )
        for pool in lb.pools:
            for member in pool.members:
                _check_address(
                    member.address, member.subnet_cidr_id, subnets, f"member {member.id}"
                )
    for server in world.servers:
        for nic in server.interfaces:
            _check_address(nic.ip_address, nic.subnet_id, subnets, f"server {server.id}")
            for group in nic.security_group_ids:
                if group not in groups:
                    raise ValueError(f"server {server.id}: unknown security group {group}")
    for scaling in world.scaling_groups:
        template = scaling.instance_template
        if template.subnet_id not in subnets:
            raise ValueError(f"scaling group {scaling.id}: unknown subnet {template.subnet_id}")
        for sg in template.security_group_ids:
            if sg not in groups:
                raise ValueError(f"scaling group {scaling.id}: unknown security group {sg}")
        for instance in scaling.instance_ids:
            if instance not in servers:
                raise ValueError(f"scaling group {scaling.id}: unknown server {instance}")


def _check_address(
    address: str, subnet_id: str | None, subnets: dict[str, Subnet], where: str
) -> None:
    ip = ipaddress.ip_address(address)
    if subnet_id is None:
        return
    subnet = subnets.get(subnet_id)
    if subnet is None:
        raise ValueError(f"{where}: unknown subnet {subnet_id}")
    if ip not in ipaddress.ip_network(subnet.cidr):
        raise ValueError(f"{where}: {address} is not in subnet {subnet_id} ({subnet.cidr})")


def world_schema() -> dict[str, object]:
    """The JSON Schema of a world file, as published in ``world.schema.json``."""
    schema = World.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "elbsync emulator world"
    return schema


def _package_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def default_world_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(DEFAULT_WORLD_FILE)))


def parse_world(text: str, *, source: str = "<world>") -> World:
    """Check ``text`` against the published schema, then build the model (references too)."""
    import jsonschema

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"not JSON: {exc}") from exc
    schema = json.loads(_package_text(SCHEMA_FILE))
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(top)"
        raise ConfigError(source, f"{where}: {exc.message}") from exc
    try:
        return World.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"]) or "(top)"
        raise ConfigError(source, f"{where}: {first['msg']}") from exc


def load_world(path: str | Path | None = None) -> World:
    """The world in ``path``, or the default world that ships with the emulator."""
    if path is None:
        return parse_world(_package_text(DEFAULT_WORLD_FILE), source=DEFAULT_WORLD_FILE)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(file), f"cannot read world file: {exc.strerror}") from exc
    return parse_world(text, source=str(file))
