"""Deployment events: CloudEvents whose ``data`` asks for member changes in one pool.

| ``type``                        | data model          |
|---------------------------------|---------------------|
| ``elbsync.members.register``    | :class:`Register`   |
| ``elbsync.members.deregister``  | :class:`Deregister` |
| ``elbsync.members.weights``     | :class:`SetWeights` |
| ``elbsync.pool.desired``        | :class:`Desired`    |

Register, deregister and desired-state events name their members either inline (``members``,
at most :data:`MAX_MEMBERS`: an EventGrid event is at most 64 KB) or by reference
(``members_key``: an object in the state store holding the list, up to
:data:`MAX_MEMBERS_BY_REFERENCE`), exactly one of the two. The object is read when the event is
handled (:mod:`elbsync.inbound.member_lists`); here only its key is checked.
"""

from __future__ import annotations

import re
from ipaddress import ip_address
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from elbsync.inbound.ids import ResourceId

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = [
    "DEPLOYMENT_TYPES",
    "MAX_MEMBERS",
    "MAX_MEMBERS_BY_REFERENCE",
    "MAX_MEMBERS_KEY_CHARS",
    "MEMBERS_KEY",
    "Deregister",
    "Desired",
    "Endpoint",
    "MemberSpec",
    "Register",
    "SetWeights",
    "WeightSpec",
]

#: Members an event may list inline: about what fits in EventGrid's 64 KB per event.
MAX_MEMBERS = 1000
#: Members a list named by ``members_key`` may hold. ELB's default quota is 500 members per
#: pool and can be raised; this leaves room for a raised quota while keeping one list's
#: planning, records and reply bounded.
MAX_MEMBERS_BY_REFERENCE = 10_000
#: A ``members_key``: ``/``-separated segments of ``A-Z a-z 0-9 . _ -``, none empty or starting
#: with a dot (so no ``..``, no leading or trailing ``/``): the state store's own key rule, so
#: every accepted key is one the store can hold.
MEMBERS_KEY = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"
MAX_MEMBERS_KEY_CHARS = 256
#: Keys under elbsync's own records (``v1/``, :data:`elbsync.state.layout.ROOT`, spelled out so
#: the event models need not load the state package; a test keeps the two in step) are refused,
#: in either case: a directory store on a case-insensitive file system finds ``V1/`` there too.
RECORDS_KEY = r"^[vV]1(/|$)"
_RECORDS = re.compile(RECORDS_KEY)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Endpoint(_Strict):
    """A backend address and port: how elbsync names a member across calls."""

    address: str = Field(
        min_length=2, max_length=64, description="IPv4 or IPv6 address of the backend"
    )
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


def _one_type(schema: dict[str, JsonValue]) -> None:
    """Publish an optional list or key as its one type, with no default: leaving it out is how
    it is not given (the published schemas refuse ``null``, and so does :class:`_MemberListEvent`).
    ``null`` goes from the type list (:mod:`elbsync.inbound.published`) or ``anyOf`` (pydantic)."""
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        typed = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        schema.update(typed[0])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        schema["type"] = next(kind for kind in kinds if kind != "null")


def _key_schema(schema: dict[str, JsonValue]) -> None:
    _one_type(schema)
    schema["not"] = {
        "pattern": RECORDS_KEY,
        "description": "keys under v1/ are elbsync's own records",
    }


#: How each list event describes ``members`` in its published schema.
_INLINE_MEMBERS = f"the members inline (at most {MAX_MEMBERS}); or give members_key instead"

MembersKey = Annotated[
    str, Field(min_length=1, max_length=MAX_MEMBERS_KEY_CHARS, pattern=MEMBERS_KEY)
]


class _MemberListEvent(_PoolEvent):
    """An event naming its members inline (``members``) or by reference (``members_key``)."""

    members_key: MembersKey | None = Field(
        default=None,
        description=(
            "or: the key of an object in elbsync's state store holding the members (a JSON "
            'array of the same entries as members, or {"members": [...]}), at most '
            f"{MAX_MEMBERS_BY_REFERENCE}; not under v1/ (elbsync's own records), "
            "e.g. inputs/pool-web.json"
        ),
        json_schema_extra=_key_schema,
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler, /
    ) -> JsonSchemaValue:
        """Publish "exactly one of members and members_key" (:meth:`_exactly_one_list`)."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["oneOf"] = [{"required": ["members"]}, {"required": ["members_key"]}]
        return schema

    @field_validator("members", "members_key", check_fields=False)
    @classmethod
    def _given(cls, value: object) -> object:
        """A list or key given as ``null`` is refused (it is left out when not given), and so is
        a key under elbsync's own records."""
        if value is None:
            raise ValueError("must not be null: leave the field out instead")
        if isinstance(value, str) and _RECORDS.match(value):
            raise ValueError(
                "is under elbsync's own records (v1/); upload member lists elsewhere, "
                "e.g. inputs/pool-web.json"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_list(self) -> _MemberListEvent:
        given = [name for name in ("members", "members_key") if name in self.model_fields_set]
        if len(given) != 1:
            state = "both are given" if given else "neither is given"
            raise ValueError(f"give exactly one of members and members_key ({state})")
        members = getattr(self, "members", None)
        if members is not None:
            _unique(list(members))
        return self


class Register(_MemberListEvent):
    """Add these members (``existed`` is fine); optionally start check jobs on listeners."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "elbsync.members.register data",
            "description": (
                "Add these members to the pool (already present counts as success); start a "
                "member check job on each listener given."
            ),
        }
    )

    members: Annotated[list[MemberSpec], Field(min_length=1, max_length=MAX_MEMBERS)] | None = (
        Field(default=None, description=_INLINE_MEMBERS, json_schema_extra=_one_type)
    )
    listener_ids: list[ResourceId] = Field(default_factory=list, max_length=10)


class Deregister(_MemberListEvent):
    """Remove these members, after ``drain_seconds`` at weight 0 when the pool honours weights."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "elbsync.members.deregister data",
            "description": (
                "Remove these members; with drain_seconds above 0 they are first set to weight 0 "
                "and deleted by the poller later."
            ),
        }
    )

    members: Annotated[list[Endpoint], Field(min_length=1, max_length=MAX_MEMBERS)] | None = Field(
        default=None, description=_INLINE_MEMBERS, json_schema_extra=_one_type
    )
    drain_seconds: int = Field(default=0, ge=0, le=3600)
    adopt: bool = Field(default=False, description="also remove members elbsync did not create")


class SetWeights(_PoolEvent):
    """Give these members new weights (canary and blue/green shifts)."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "elbsync.members.weights data",
            "description": "Give these members new weights, e.g. a canary or blue/green shift.",
        }
    )

    weights: list[WeightSpec] = Field(min_length=1, max_length=MAX_MEMBERS)

    @model_validator(mode="after")
    def _no_duplicates(self) -> SetWeights:
        _unique(list(self.weights))
        return self


class Desired(_MemberListEvent):
    """The pool should contain exactly these members (none: remove every member elbsync owns,
    through the guards); ``dry_run`` only returns the plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "elbsync.pool.desired data",
            "description": (
                "The pool should contain exactly these members. dry_run returns the plan "
                "without changing anything."
            ),
        }
    )

    members: Annotated[list[MemberSpec], Field(max_length=MAX_MEMBERS)] | None = Field(
        default=None, description=_INLINE_MEMBERS, json_schema_extra=_one_type
    )
    dry_run: bool = False
    adopt: bool = False
    force: bool = False
    drain_seconds: int = Field(default=0, ge=0, le=3600)
    max_remove_share: float | None = Field(default=None, gt=0, le=1)


DEPLOYMENT_TYPES: dict[str, tuple[type[_PoolEvent], str]] = {
    "elbsync.members.register": (Register, "members-register.schema.json"),
    "elbsync.members.deregister": (Deregister, "members-deregister.schema.json"),
    "elbsync.members.weights": (SetWeights, "members-weights.schema.json"),
    "elbsync.pool.desired": (Desired, "pool-desired.schema.json"),
}
