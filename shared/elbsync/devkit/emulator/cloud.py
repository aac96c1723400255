"""The emulated cloud's mutable state, built from a :class:`World` and reset back to it.

One re-entrant lock guards everything: requests are served on many threads, but each one sees
and changes the cloud atomically, as a real control plane would order them.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid
from dataclasses import dataclass, field
from typing import Literal

from elbsync.devkit.emulator.clock import VirtualClock
from elbsync.devkit.emulator.world import (
    Interface,
    Listener,
    LoadBalancer,
    NetworkAcl,
    Pool,
    ScalingGroup,
    SecurityGroup,
    Subnet,
    World,
)

__all__ = [
    "CheckJob",
    "Cloud",
    "Decision",
    "LifecycleAction",
    "MemberRecord",
    "PoolState",
    "ScalingInstance",
    "ServerState",
    "new_request_id",
    "new_uuid",
]


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass
class ServerState:
    id: str
    name: str
    project_id: str
    status: Literal["ACTIVE", "SHUTOFF"]
    interfaces: list[Interface]
    listening_ports: list[int] | None
    started_at: float


@dataclass
class MemberRecord:
    id: str
    pool_id: str
    project_id: str
    name: str
    address: str
    protocol_port: int
    weight: int
    subnet_cidr_id: str | None
    created_at: float
    updated_at: float
    #: When health checks of this member (on its current port) began.
    health_since: float

    @property
    def ip_version(self) -> str:
        return "v6" if ipaddress.ip_address(self.address).version == 6 else "v4"


@dataclass
class PoolState:
    model: Pool
    load_balancer_id: str
    members: dict[str, MemberRecord] = field(default_factory=dict)


@dataclass
class CheckJob:
    id: str
    project_id: str
    member_id: str
    listener_id: str
    subject: str
    created_at: float
    done_at: float
    #: Set once the job reaches ``processed`` or ``failed``; the result never changes after.
    final_status: Literal["processed", "failed"] | None = None
    final_result: dict[str, object] | None = None
    final_at: float | None = None
    failure: str | None = None


@dataclass
class Decision:
    result: str
    source: Literal["callback", "timeout"]
    at: float


@dataclass
class LifecycleAction:
    key: str
    instance_id: str
    scaling_group_id: str
    hook_name: str
    hook_type: str
    default_result: str
    timeout_at: float
    status: Literal["HANGING", "CONTINUE", "ABANDON"] = "HANGING"
    decisions: list[Decision] = field(default_factory=list)
    rejected_callbacks: int = 0


@dataclass
class ScalingInstance:
    instance_id: str
    scaling_group_id: str
    lifecycle_state: Literal["PENDING_WAIT", "INSERVICE", "REMOVING_WAIT", "REMOVED"]
    action_keys: list[str] = field(default_factory=list)


class Cloud:
    """Everything the emulated APIs read and change."""

    def __init__(self, world: World, clock: VirtualClock) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.world = world
        self.subnets: dict[str, Subnet] = {}
        self.security_groups: dict[str, SecurityGroup] = {}
        self.network_acls: dict[str, NetworkAcl] = {}
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.listeners: dict[str, tuple[Listener, str]] = {}
        self.pools: dict[str, PoolState] = {}
        self.servers: dict[str, ServerState] = {}
        self.scaling_groups: dict[str, ScalingGroup] = {}
        self.busy_until: dict[str, float] = {}
        self.check_jobs: dict[str, CheckJob] = {}
        self.actions: dict[str, LifecycleAction] = {}
        self.instances: dict[str, ScalingInstance] = {}
        self.load(world)

    def load(self, world: World) -> None:
        """Throw away every change and start again from ``world``."""
        with self.lock:
            self.world = world
            self.subnets = {s.id: s for s in world.subnets}
            self.security_groups = {g.id: g for g in world.security_groups}
            self.network_acls = {a.id: a for a in world.network_acls}
            self.load_balancers = {lb.id: lb for lb in world.load_balancers}
            self.listeners = {
                li.id: (li, lb.id) for lb in world.load_balancers for li in lb.listeners
            }
            self.pools = {}
            self.busy_until = {}
            self.check_jobs = {}
            self.actions = {}
            # Members of the world file were added long ago: settled and healthy from the start.
            long_ago = self.clock.now() - 86400.0
            for lb in world.load_balancers:
                for pool in lb.pools:
                    self.pools[pool.id] = PoolState(pool, lb.id)
                    for initial in pool.members:
                        record = MemberRecord(
                            id=initial.id,
                            pool_id=pool.id,
                            project_id=lb.project_id,
                            name=initial.name,
                            address=initial.address,
                            protocol_port=initial.protocol_port,
                            weight=initial.weight,
                            subnet_cidr_id=initial.subnet_cidr_id,
                            created_at=long_ago,
                            updated_at=long_ago,
                            health_since=long_ago,
                        )
                        self.pools[pool.id].members[record.id] = record
            self.servers = {
                s.id: ServerState(
                    id=s.id,
                    name=s.name,
                    project_id=s.project_id,
                    status=s.status,
                    interfaces=list(s.interfaces),
                    listening_ports=s.listening_ports,
                    started_at=long_ago,
                )
                for s in world.servers
            }
            self.scaling_groups = {g.id: g for g in world.scaling_groups}
            self.instances = {
                instance: ScalingInstance(instance, group.id, "INSERVICE")
                for group in world.scaling_groups
                for instance in group.instance_ids
            }

    # Look-ups shared by the services.

    def now(self) -> float:
        return self.clock.now()

    def load_balancer_of_pool(self, pool: PoolState) -> LoadBalancer:
        return self.load_balancers[pool.load_balancer_id]

    def listeners_of_pool(self, pool_id: str) -> list[Listener]:
        return [li for li, _ in self.listeners.values() if li.default_pool_id == pool_id]

    def find_member(self, member_id: str) -> tuple[PoolState, MemberRecord] | None:
        for pool in self.pools.values():
            record = pool.members.get(member_id)
            if record is not None:
                return pool, record
        return None

    def server_at(self, address: str, subnet_id: str | None) -> ServerState | None:
        """The server whose interface has ``address`` (in ``subnet_id`` when one is given)."""
        wanted = ipaddress.ip_address(address)
        for server in self.servers.values():
            for nic in server.interfaces:
                same_subnet = subnet_id is None or nic.subnet_id == subnet_id
                if same_subnet and ipaddress.ip_address(nic.ip_address) == wanted:
                    return server
        return None

    def interface_of(self, server: ServerState, address: str) -> Interface:
        wanted = ipaddress.ip_address(address)
        for nic in server.interfaces:
            if ipaddress.ip_address(nic.ip_address) == wanted:
                return nic
        return server.interfaces[0]

    def behaviour_busy_after_write(self, lb: LoadBalancer) -> float:
        if lb.busy_after_write_s is not None:
            return lb.busy_after_write_s
        return self.world.behaviour.busy_after_write_s

    def health_delay(self, pool: PoolState) -> float:
        if pool.model.health_delay_s is not None:
            return pool.model.health_delay_s
        return self.world.behaviour.health_delay_s

    def member_quota(self, pool: PoolState) -> int:
        if pool.model.member_quota is not None:
            return pool.model.member_quota
        return self.world.behaviour.member_quota
