"""What http_api reads and answers, as models: the routes build their replies from these, and
the OpenAPI document (:mod:`elbsync.api.openapi`) is generated from them, so the two agree.

The change routes take the deployment events' own models (:mod:`elbsync.inbound.deployments`)
without ``pool_id``, which the path gives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from elbsync.inbound.ids import ResourceId

__all__ = [
    "ChangeReply",
    "CheckFindingOut",
    "CheckJobReply",
    "ErrorDetail",
    "ErrorReply",
    "FieldProblem",
    "Health",
    "ListenerHealth",
    "MemberRowOut",
    "PoolMember",
    "PoolMembers",
    "StartCheck",
    "Truncated",
    "WaitItem",
    "WaitKind",
    "WaitList",
]

WaitKind = Literal["check_job", "lifecycle_action", "drain", "write_intent"]


class _Out(BaseModel):
    """A reply: the fields listed are always there as typed; more may be added later."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class StartCheck(BaseModel):
    """Start an ELB member check job for one member of the pool on one of its listeners."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    member_id: ResourceId
    listener_id: ResourceId


class FieldProblem(_Out):
    field: str | None
    message: str


class ErrorDetail(_Out):
    code: str
    message: str
    field: str | None = None
    #: Every refused field of a request body, when there are several.
    fields: list[FieldProblem] | None = None


class ErrorReply(_Out):
    ok: Literal[False] = False
    error: ErrorDetail
    request_id: str


class Health(_Out):
    ok: Literal[True] = True
    service: Literal["elbsync"] = "elbsync"
    version: str


class MemberRowOut(_Out):
    pool_id: str
    result: str = Field(
        description=(
            "added, existed, reweighted, draining, deleted, not_found, unchanged, "
            "refused (a guard said no: see reason), failed (ELB refused: see error), queued"
        )
    )
    address: str | None
    protocol_port: int | None
    member_id: str | None
    weight: int | None = None
    error: dict[str, JsonValue] | None = None
    reason: str | None = None


class Truncated(_Out):
    listed: int
    total: int


class ChangeReply(_Out):
    ok: bool
    operation_id: str = Field(description="poll GET /v1/pools/{pool_id}/operations/{id}")
    status: Literal["applied", "queued", "refused", "planned"] = Field(
        description=(
            "applied: done, per-member results below; queued: still waiting in the write "
            "queue (202); refused: nothing the request asked for was done (422); planned: a "
            "dry run's plan"
        )
    )
    pool_id: str
    members: list[MemberRowOut] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    members_truncated: Truncated | None = None
    check_jobs: list[str] | None = None
    dry_run: bool | None = None
    plan: dict[str, JsonValue] | None = None
    reason: str | None = None
    replayed: bool | None = None

    def body(self) -> dict[str, object]:
        """The reply as sent: optional fields left out when unset, but a row's address, port
        and member id always there (null when unknown), as ``MemberRowOut`` requires."""
        data = self.model_dump(exclude_none=True)
        for row in data["members"]:
            for name in ("address", "protocol_port", "member_id"):
                row.setdefault(name, None)
        return data


class ListenerHealth(_Out):
    listener_id: str
    operating_status: str


class PoolMember(_Out):
    member_id: str
    name: str
    address: str
    protocol_port: int | None
    weight: int
    subnet_cidr_id: str | None
    operating_status: str
    listeners: list[ListenerHealth]
    owned: bool = Field(description="created by elbsync (its guards only remove these)")


class PoolMembers(_Out):
    ok: Literal[True] = True
    pool_id: str
    count: int
    members: list[PoolMember]


class CheckFindingOut(_Out):
    group: str
    name: str
    severity: Literal["Major", "Tips"]
    reason: str


class CheckJobReply(_Out):
    ok: Literal[True] = True
    pool_id: str
    job_id: str
    member_id: str
    listener_id: str
    status: Literal["pending", "processing", "processed", "failed", "expired"]
    passed: bool | None
    findings: list[CheckFindingOut]
    created_at: str
    updated_at: str
    finished_at: str | None


class WaitItem(_Out):
    kind: WaitKind
    id: str
    status: str
    pools: list[str]
    created_at: str
    updated_at: str
    detail: dict[str, JsonValue] = Field(default_factory=dict)


class WaitList(_Out):
    ok: Literal[True] = True
    items: list[WaitItem]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: no more")
