"""The records kept in the state store, as pydantic models.

Every record carries ``schema_version`` and ``kind``. Three kinds *wait* for something and move
through statuses that only go forward (:func:`check_transition`):

================  =========================================  ================================
kind              waiting statuses (in order)                terminal statuses
================  =========================================  ================================
check_job         pending → processing                       processed, failed, expired
lifecycle_action  waiting → completing                       completed, failed, expired
drain             draining → deleting                        deleted, failed, expired
================  =========================================  ================================

The idempotency record and the audit entry do not move through statuses the same way: see
:mod:`elbsync.state.idempotency` and :meth:`elbsync.state.repository.StateRepository.append_audit`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from elbsync.state.errors import CorruptRecord, TransitionRefused

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


class LifecycleAction(WaitingRecord):
    """An Auto Scaling lifecycle action held until its members are healthy (or drained)."""

    STATUS_ORDER: ClassVar[dict[str, int]] = {
        "waiting": 0,
        "completing": 1,
        "completed": 2,
        "failed": 2,
        "expired": 2,
    }
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"completed", "failed", "expired"})

    kind: Literal["lifecycle_action"] = "lifecycle_action"
    status: Literal["waiting", "completing", "completed", "failed", "expired"] = "waiting"
    scaling_group_id: str
    action_key: str
    instance_id: str
    hook_name: str
    hook_type: Literal["INSTANCE_LAUNCHING", "INSTANCE_TERMINATING"]
    members: tuple[WaitedMember, ...] = ()
    check_job_ids: tuple[str, ...] = ()
    #: When the members must be healthy by (then the policy decides).
    health_deadline: AwareDatetime
    #: When Auto Scaling stops waiting for a callback (no work after this).
    hook_deadline: AwareDatetime
    #: What to do when the health deadline passes without every member healthy.
    policy: Literal["abandon", "continue"] = "abandon"
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
    status: Literal["draining", "deleting", "deleted", "failed", "expired"] = "draining"
    drain_id: str
    targets: tuple[DrainTarget, ...]
    delete_after: AwareDatetime
    then_complete: LifecycleActionRef | None = None
    deleted_member_ids: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def record_id(self) -> str:
        return self.drain_id

    @property
    def pool_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target.pool_id for target in self.targets))


class IdempotencyRecord(_Model):
    """A claim on an event (``in_progress`` / ``released``) or its stored reply (``completed``)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["idempotency"] = "idempotency"
    key: str
    source: str
    event_id: str
    payload_hash: str
    status: Literal["in_progress", "released", "completed"]
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
    """Parse stored bytes as ``model``; a newer schema or wrong kind is a :class:`CorruptRecord`."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise CorruptRecord(key, "not JSON") from exc
    if not isinstance(raw, dict):
        raise CorruptRecord(key, "not a JSON object")
    version = raw.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise CorruptRecord(
            key, f"schema_version {version!r} is not one this code reads (<= {SCHEMA_VERSION})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CorruptRecord(key, f"{where}: {first['msg']}") from exc


def check_transition(current: WaitingRecord, new: WaitingRecord) -> bool:
    """Whether writing ``new`` over ``current`` is a real change.

    ``False`` when it changes nothing that matters (the same terminal status again). Raises
    :class:`TransitionRefused` when it would move backwards or comes from a stale copy.
    """
    if type(current) is not type(new) or current.record_id != new.record_id:
        raise TransitionRefused(
            new.record_id,
            current=f"{current.kind}/{current.record_id}",
            requested=f"{new.kind}/{new.record_id}",
            reason="not the same record",
        )
    if current.terminal:
        if new.status == current.status:
            return False
        raise TransitionRefused(
            new.record_id, current=current.status, requested=new.status, reason="already finished"
        )
    if new.order() < current.order():
        raise TransitionRefused(
            new.record_id, current=current.status, requested=new.status, reason="moves backwards"
        )
    if new.revision < current.revision:
        raise TransitionRefused(
            new.record_id,
            current=f"{current.status}@{current.revision}",
            requested=f"{new.status}@{new.revision}",
            reason="based on a stale copy",
        )
    return True
