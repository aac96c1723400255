"""The records kept in the state store, as pydantic models.

Every record carries ``schema_version`` and ``kind``. Three kinds *wait* for something and move
through statuses that only go forward (:func:`check_transition`):

================  =========================================  ================================
kind              waiting statuses (in order)                terminal statuses
================  =========================================  ================================
check_job         pending → processing                       processed, failed, expired
lifecycle_action  joining → waiting → completing             completed, failed, expired
drain             draining → deleting                        deleted, failed, expired
write_intent      queued                                     done, expired
================  =========================================  ================================

The idempotency record and the audit entry do not move through statuses the same way: see
:mod:`elbsync.state.idempotency` and :meth:`elbsync.state.repository.StateRepository.append_audit`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import ClassVar, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    model_validator,
)

from elbsync.members.endpoint import EndpointKey, endpoint_key
from elbsync.state.errors import CorruptRecordError, TransitionRefusedError

__all__ = [
    "SCHEMA_VERSION",
    "AnyRecord",
    "AuditEntry",
    "ChangeOp",
    "ChangeResult",
    "ChangeResultName",
    "CheckFinding",
    "CheckJob",
    "CheckSpec",
    "Drain",
    "DrainTarget",
    "IdempotencyRecord",
    "LeaseRecord",
    "LifecycleAction",
    "LifecycleActionRef",
    "MemberChange",
    "PoolChanges",
    "WaitedMember",
    "WaitingRecord",
    "WriteIntent",
    "check_transition",
    "decode",
    "encode",
    "utc_now",
]

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class WaitingRecord(_Model):
    """Fields and rules shared by the records the poller advances."""

    #: Status → order; a record never moves to a lower number.
    STATUS_ORDER: ClassVar[dict[str, int]]
    TERMINAL: ClassVar[frozenset[str]]

    schema_version: int = SCHEMA_VERSION
    kind: str
    status: str
    #: Bumped by the repository on every write; a write based on an older revision is refused.
    revision: int = Field(default=0, ge=0)
    created_at: AwareDatetime = Field(default_factory=utc_now)
    updated_at: AwareDatetime = Field(default_factory=utc_now)
    finished_at: AwareDatetime | None = None

    @property
    def record_id(self) -> str:
        raise NotImplementedError

    @property
    def terminal(self) -> bool:
        return self.status in self.TERMINAL

    def order(self) -> int:
        return self.STATUS_ORDER[self.status]


class CheckFinding(_Model):
    """One problem a member check job reported, rendered from its reason template."""

    #: Result group of the check job: ``config``, ``acl`` or ``security_group``.
    group: str
    reason: str
    #: The check item's name (e.g. ``check_hc_config_port``) and ELB's severity for it.
    name: str = ""
    severity: Literal["Major", "Tips"] = "Major"

    @property
    def blocks(self) -> bool:
        """A Major finding keeps a member out of service; Tips are advice."""
        return self.severity == "Major"


class CheckJob(WaitingRecord):
    """An ELB member check job (``POST .../members/{id}/health-check``) being polled."""

    STATUS_ORDER: ClassVar[dict[str, int]] = {
        "pending": 0,
        "processing": 1,
        "processed": 2,
        "failed": 2,
        "expired": 2,
    }
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"processed", "failed", "expired"})

    kind: Literal["check_job"] = "check_job"
    status: Literal["pending", "processing", "processed", "failed", "expired"] = "pending"
    job_id: str
    member_id: str
    pool_id: str
    listener_id: str
    subject: Literal["all", "config", "networkAcl", "securityGroup"] = "all"
    attempts: int = Field(default=0, ge=0)
    #: How many failed jobs for this member and listener came before this one.
    retries: int = Field(default=0, ge=0)
    next_poll_at: AwareDatetime
    #: Gives up (``expired``) when still unfinished by then.
    poll_until: AwareDatetime | None = None
    #: The rendered result once processed: whether nothing was found, and what was.
    passed: bool | None = None
    findings: tuple[CheckFinding, ...] = ()
    #: The lifecycle action that waits on this check, if any.
    lifecycle_action_id: str | None = None

    @property
    def record_id(self) -> str:
        return self.job_id


class WaitedMember(_Model):
    """A pool member a lifecycle action waits for."""

    pool_id: str
    member_id: str | None = None
    address: str
    protocol_port: int = Field(ge=1, le=65535)
    listener_ids: tuple[str, ...] = ()
    weight: int | None = Field(default=None, ge=0, le=100)
    #: The write queue (load balancer) of the pool.
    queue: str = ""

    @property
    def key(self) -> EndpointKey:
        return endpoint_key(self.address, self.protocol_port)


class LifecycleAction(WaitingRecord):
    """An Auto Scaling lifecycle action held until its members are healthy (or drained)."""

    STATUS_ORDER: ClassVar[dict[str, int]] = {
        "joining": 0,
        "waiting": 1,
        "completing": 2,
        "completed": 3,
        "failed": 3,
        "expired": 3,
    }
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"completed", "failed", "expired"})

    kind: Literal["lifecycle_action"] = "lifecycle_action"
    #: ``joining`` while its members' adds wait in the write queue (``intent_ids``), then
    #: ``waiting`` for health, ``completing`` once a decision is recorded.
    status: Literal["joining", "waiting", "completing", "completed", "failed", "expired"] = (
        "joining"
    )
    scaling_group_id: str
    action_key: str
    instance_id: str
    hook_name: str
    hook_type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    members: tuple[WaitedMember, ...] = ()
    #: The write intents (``queue/intent_id``) that add the members.
    intent_ids: tuple[str, ...] = ()
    check_job_ids: tuple[str, ...] = ()
    #: When the members must be healthy by (then the policy decides).
    health_deadline: AwareDatetime
    #: When Auto Scaling stops waiting for a callback (no work after this).
    hook_deadline: AwareDatetime
    #: What to do when the health deadline passes without every member healthy.
    policy: Literal["abandon", "continue"] = "abandon"
    #: What Auto Scaling does when the hook times out (the hook's default result; Auto
    #: Scaling's own default is ABANDON): an abandoned instance's members must go too.
    default_result: Literal["CONTINUE", "ABANDON"] = "ABANDON"
    decision: Literal["CONTINUE", "ABANDON"] | None = None
    reason: str | None = None
    callback_attempts: int = Field(default=0, ge=0)
    #: How many times the poller has EXTENDed the hook so far, and may at most.
    extensions: int = Field(default=0, ge=0)
    max_extensions: int = Field(default=3, ge=0)
    #: Most Major check findings: kept so the decision can say why.
    findings: tuple[CheckFinding, ...] = ()

    @property
    def record_id(self) -> str:
        return self.action_key


class DrainTarget(_Model):
    pool_id: str
    member_id: str
    address: str | None = None
    protocol_port: int | None = Field(default=None, ge=1, le=65535)
    #: The write queue of the pool's load balancer.
    queue: str = ""
    #: Seconds at weight 0 before the delete; 0: deleted at once (no drain).
    drain_seconds: int = Field(default=0, ge=0)


class LifecycleActionRef(_Model):
    """The lifecycle action to complete once a drain has finished."""

    scaling_group_id: str
    action_key: str
    instance_id: str | None = None
    hook_name: str | None = None
    result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"


class Drain(WaitingRecord):
    """Members set to weight 0, to be deleted once ``delete_after`` has passed."""

    STATUS_ORDER: ClassVar[dict[str, int]] = {
        "draining": 0,
        "deleting": 1,
        "deleted": 2,
        "failed": 2,
        "expired": 2,
    }
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"deleted", "failed", "expired"})

    kind: Literal["drain"] = "drain"
    #: ``draining`` until the weight-0 writes are applied and the drain time has passed,
    #: ``deleting`` while the deletes wait in the write queue.
    status: Literal["draining", "deleting", "deleted", "failed", "expired"] = "draining"
    drain_id: str
    targets: tuple[DrainTarget, ...]
    #: Set once the weight-0 writes are applied: then plus the longest drain time.
    delete_after: AwareDatetime | None = None
    #: Write intents (``queue/intent_id``) setting weight 0, then deleting the members.
    weight_intents: tuple[str, ...] = ()
    delete_intents: tuple[str, ...] = ()
    then_complete: LifecycleActionRef | None = None
    deleted_member_ids: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def record_id(self) -> str:
        return self.drain_id

    @property
    def pool_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target.pool_id for target in self.targets))


ChangeOp = Literal["add", "update", "delete"]
ChangeResultName = Literal[
    "added", "existed", "reweighted", "draining", "deleted", "not_found", "failed"
]


class MemberChange(_Model):
    """One member change waiting in the write queue, in the API's own terms."""

    op: ChangeOp
    address: str | None = None
    protocol_port: int | None = Field(default=None, ge=1, le=65535)
    #: Updates and deletes by id; a delete without an id goes by address and port.
    member_id: str | None = None
    weight: int | None = Field(default=None, ge=0, le=100)
    subnet_cidr_id: str | None = None
    name: str | None = None
    #: How an update is called in replies: ``reweighted`` or ``draining``.
    label: Literal["reweighted", "draining"] | None = None

    @property
    def key(self) -> EndpointKey:
        return endpoint_key(self.address, self.protocol_port)

    @property
    def endpoint(self) -> str:
        """What the change is about: the member id, else ``address:port``."""
        address, port = self.key
        return self.member_id or f"{address}:{port}"


class ChangeResult(_Model):
    """What became of one change: a result name, the member id, and ELB's error if refused."""

    result: ChangeResultName
    member_id: str | None = None
    error: dict[str, JsonValue] | None = None


class PoolChanges(_Model):
    """The changes of one pool, and (in the same order) their results once applied."""

    pool_id: str
    changes: tuple[MemberChange, ...]
    #: ``None`` while a change waits; a result once ELB has answered for it.
    results: tuple[ChangeResult | None, ...] = ()

    @model_validator(mode="after")
    def _aligned(self) -> PoolChanges:
        if self.results and len(self.results) != len(self.changes):
            raise ValueError("results must match changes one for one")
        return self

    def result_of(self, index: int) -> ChangeResult | None:
        return self.results[index] if self.results else None

    @property
    def settled(self) -> bool:
        return all(self.result_of(i) is not None for i in range(len(self.changes)))


class CheckSpec(_Model):
    """Member check jobs to start for the members an intent adds (per pool: the listeners)."""

    listeners: dict[str, tuple[str, ...]]
    until: AwareDatetime
    lifecycle_action_id: str | None = None


class WriteIntent(WaitingRecord):
    """Member changes for the pools of one load balancer, waiting for that balancer's writer.

    Stored under the balancer's queue, so the lease holder lists exactly its own work.
    """

    STATUS_ORDER: ClassVar[dict[str, int]] = {"queued": 0, "done": 1, "expired": 1}
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"done", "expired"})

    kind: Literal["write_intent"] = "write_intent"
    status: Literal["queued", "done", "expired"] = "queued"
    #: The load balancer's write queue (its id, or ``pool-<id>`` when it is not known).
    queue: str
    intent_id: str
    pools: tuple[PoolChanges, ...]
    #: Why: shown in the audit trail (``launch i-…``, ``elbsync.members.register …``).
    cause: str
    checks: CheckSpec | None = None
    #: Check jobs started once the adds were applied.
    check_job_ids: tuple[str, ...] = ()
    #: How many writers have worked on it (a write that outlasts many is logged).
    rounds: int = Field(default=0, ge=0)

    @property
    def record_id(self) -> str:
        return f"{self.queue}/{self.intent_id}"

    @property
    def settled(self) -> bool:
        return all(pool.settled for pool in self.pools)


class LeaseRecord(_Model):
    """One generation of a load balancer's write lease (see :mod:`elbsync.state.lease`)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["lease"] = "lease"
    name: str
    generation: int = Field(ge=1)
    owner: str
    status: Literal["held", "released"]
    acquired_at: AwareDatetime
    #: The holder stops writing by then; afterwards anyone may take the next generation.
    expires_at: AwareDatetime
    #: The balancer refuses writes until about then (the busy window after the last write).
    quiet_until: AwareDatetime | None = None
    #: The wait after a write that the last holder found to be enough.
    pace_s: float | None = Field(default=None, ge=0)


class IdempotencyRecord(_Model):
    """A claim on an event (``in_progress`` / ``released``), an event whose work is recorded
    and waits in the write queue (``queued``), or its final reply (``completed``)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["idempotency"] = "idempotency"
    key: str
    source: str
    event_id: str
    payload_hash: str
    status: Literal["in_progress", "released", "queued", "completed"]
    generation: int = Field(ge=1)
    owner: str
    created_at: AwareDatetime = Field(default_factory=utc_now)
    #: For a claim: when it stops counting (the claiming invocation's remaining time).
    expires_at: AwareDatetime
    reply: dict[str, JsonValue] | None = None


class AuditEntry(_Model):
    """One line of the append-only audit trail: a change elbsync made, or tried to."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["audit"] = "audit"
    entry_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex, pattern=r"^[A-Za-z0-9_-]{1,64}$"
    )
    at: AwareDatetime = Field(default_factory=utc_now)
    #: snake_case name of what happened, e.g. ``members_added``.
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    #: What it happened to, e.g. a pool id or a record id.
    subject: str
    outcome: Literal["ok", "failed", "skipped"] = "ok"
    actor: str | None = None
    request_id: str | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)


AnyRecord = WaitingRecord | IdempotencyRecord | AuditEntry
M = TypeVar("M", bound=BaseModel)


def encode(record: BaseModel) -> bytes:
    return record.model_dump_json().encode("utf-8")


def decode(model: type[M], key: str, data: bytes) -> M:
    """Parse stored bytes as ``model``; a newer schema or wrong kind is a
    :class:`CorruptRecordError`."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise CorruptRecordError(key, "not JSON") from exc
    if not isinstance(raw, dict):
        raise CorruptRecordError(key, "not a JSON object")
    version = raw.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise CorruptRecordError(
            key, f"schema_version {version!r} is not one this code reads (<= {SCHEMA_VERSION})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CorruptRecordError(key, f"{where}: {first['msg']}") from exc


def check_transition(current: WaitingRecord, new: WaitingRecord) -> bool:
    """Whether writing ``new`` over ``current`` is a real change.

    ``False`` when it changes nothing that matters (the same terminal status again). Raises
    :class:`TransitionRefusedError` when it would move backwards or comes from a stale copy.
    """
    if type(current) is not type(new) or current.record_id != new.record_id:
        raise TransitionRefusedError(
            new.record_id,
            current=f"{current.kind}/{current.record_id}",
            requested=f"{new.kind}/{new.record_id}",
            reason="not the same record",
        )
    if current.terminal:
        if new.status == current.status:
            return False
        raise TransitionRefusedError(
            new.record_id, current=current.status, requested=new.status, reason="already finished"
        )
    if new.order() < current.order():
        raise TransitionRefusedError(
            new.record_id, current=current.status, requested=new.status, reason="moves backwards"
        )
    if new.revision < current.revision:
        raise TransitionRefusedError(
            new.record_id,
            current=f"{current.status}@{current.revision}",
            requested=f"{new.status}@{new.revision}",
            reason="based on a stale copy",
        )
    return True
