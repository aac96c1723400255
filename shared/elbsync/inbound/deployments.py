"""Deployment events: CloudEvents whose ``data`` asks for member changes in one pool.

| ``type``                        | data model          |
|---------------------------------|---------------------|
| ``elbsync.members.register``    | :class:`Register`   |
| ``elbsync.members.deregister``  | :class:`Deregister` |
| ``elbsync.members.weights``     | :class:`SetWeights` |
| ``elbsync.pool.desired``        | :class:`Desired`    |
"""

from __future__ import annotations

from ipaddress import ip_address

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from elbsync.inbound.ids import ResourceId

MAX_MEMBERS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Endpoint(_Strict):
    """A backend address and port: how elbsync names a member across calls."""

    address: str = Field(min_length=2, max_length=64)
    protocol_port: int = Field(ge=1, le=65535)

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            return str(ip_address(value))
        except ValueError as exc:
            raise ValueError(f"not an IP address: {value!r}") from exc

    @property
    def key(self) -> tuple[str, int]:
        return (self.address, self.protocol_port)


class MemberSpec(Endpoint):
    weight: int | None = Field(default=None, ge=0, le=100)
    subnet_cidr_id: ResourceId | None = None
    name: str | None = Field(default=None, max_length=255)


class WeightSpec(Endpoint):
    weight: int = Field(ge=0, le=100)


class _PoolEvent(_Strict):
    pool_id: ResourceId
    load_balancer_id: ResourceId | None = None


def _unique(items: list[Endpoint]) -> None:
    seen: set[tuple[str, int]] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(f"{item.address}:{item.protocol_port} is listed twice")
        seen.add(item.key)


class Register(_PoolEvent):
    """Add these members (``existed`` is fine); optionally start check jobs on listeners."""

    members: list[MemberSpec] = Field(min_length=1, max_length=MAX_MEMBERS)
    listener_ids: list[ResourceId] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _no_duplicates(self) -> Register:
        _unique(list(self.members))
        return self


class Deregister(_PoolEvent):
    """Remove these members, after ``drain_seconds`` at weight 0 when the pool honours weights."""

    members: list[Endpoint] = Field(min_length=1, max_length=MAX_MEMBERS)
    drain_seconds: int = Field(default=0, ge=0, le=3600)
    adopt: bool = False

    @model_validator(mode="after")
    def _no_duplicates(self) -> Deregister:
        _unique(list(self.members))
        return self


class SetWeights(_PoolEvent):
    """Give these members new weights (canary and blue/green shifts)."""

    weights: list[WeightSpec] = Field(min_length=1, max_length=MAX_MEMBERS)

    @model_validator(mode="after")
    def _no_duplicates(self) -> SetWeights:
        _unique(list(self.weights))
        return self


class Desired(_PoolEvent):
    """The pool should contain exactly these members; ``dry_run`` only returns the plan."""

    members: list[MemberSpec] = Field(max_length=MAX_MEMBERS)
    dry_run: bool = False
    adopt: bool = False
    force: bool = False
    drain_seconds: int = Field(default=0, ge=0, le=3600)
    max_remove_share: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _no_duplicates(self) -> Desired:
        _unique(list(self.members))
        return self


DEPLOYMENT_TYPES: dict[str, tuple[type[_PoolEvent], str]] = {
    "elbsync.members.register": (Register, "members-register.schema.json"),
    "elbsync.members.deregister": (Deregister, "members-deregister.schema.json"),
    "elbsync.members.weights": (SetWeights, "members-weights.schema.json"),
    "elbsync.pool.desired": (Desired, "pool-desired.schema.json"),
}
