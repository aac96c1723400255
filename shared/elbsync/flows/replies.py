"""What the member flows answer, as typed models; :meth:`reply` gives the JSON a trigger gets.

Every member an event touches or names appears once with its result: ``added``, ``existed``,
``reweighted``, ``draining``, ``deleted``, ``not_found``, ``unchanged``, ``refused`` (a guard
said no, with the reason), ``failed`` (ELB refused it, with ELB's error) or ``queued`` (waiting
in the write queue). A reply lists at most :data:`MAX_REPLY_ROWS` members (a list named by
reference may hold 10,000): past that, rows that need attention come first, ``counts`` still
counts every row, and ``members_truncated`` says how many were listed of how many.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from elbsync.members.endpoint import EndpointKey, endpoint_key

__all__ = [
    "MAX_REPLY_ROWS",
    "UNDONE",
    "DeploymentResult",
    "DryRunResult",
    "FlowResult",
    "LifecycleStatus",
    "MemberRow",
    "ScalingResult",
    "counts",
]

#: Member rows listed in one event's reply. The reply is stored for replays, and FunctionGraph
#: answers at most 6 MB for a whole envelope; a row is about 180 bytes of JSON.
MAX_REPLY_ROWS = 1000


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MemberRow(_Reply):
    pool_id: str
    result: str
    address: str | None = None
    protocol_port: int | None = None
    member_id: str | None = None
    weight: int | None = None
    error: dict[str, JsonValue] | None = None
    reason: str | None = None

    @property
    def key(self) -> EndpointKey:
        return endpoint_key(self.address, self.protocol_port)

    def reply(self) -> dict[str, object]:
        """Pool, result, address, port and member id always; weight, error, reason if set."""
        data = self.model_dump(exclude_none=True)
        for key in ("address", "protocol_port", "member_id"):
            data.setdefault(key, None)
        return data


#: Results that mean a named member was not changed as asked (each is logged as a warning).
UNDONE = frozenset({"refused", "failed", "not_found"})


def counts(rows: Sequence[MemberRow]) -> dict[str, int]:
    return dict(sorted(Counter(row.result for row in rows).items()))


class LifecycleStatus(_Reply):
    action_key: str
    status: str
    decision: Literal["CONTINUE", "ABANDON"] | None = None
    drain_id: str | None = None
    error: dict[str, JsonValue] | None = None


class _MemberReply(_Reply):
    #: Some changes still wait in the write queue (the event is answered ``queued``).
    queued: bool = False
    members: tuple[MemberRow, ...] = ()
    #: Rows for members the event named without a change (unchanged, refused, not found).
    named: tuple[MemberRow, ...] = ()
    check_jobs: tuple[str, ...] | None = None
    #: A member asked to go that is not there is done, not undone (a removal).
    absent_is_done: bool = False

    @property
    def rows(self) -> tuple[MemberRow, ...]:
        return (*self.members, *self.named)

    @property
    def undone(self) -> list[MemberRow]:
        """Members the event asked to change that were refused, failed or not found."""
        return [row for row in self.rows if row.result in UNDONE]

    @property
    def nothing_done(self) -> bool:
        """The event asked for changes and not one of them was made (for a removal, a member
        already gone counts as removed)."""
        undone = UNDONE - {"not_found"} if self.absent_is_done else UNDONE
        asked = [row for row in self.rows if row.result != "unchanged"]
        return bool(asked) and all(row.result in undone for row in asked)

    def _members(self) -> dict[str, object]:
        rows = self.rows
        listed = _listed(rows)
        data: dict[str, object] = {
            "members": [row.reply() for row in listed],
            "counts": counts(rows),
        }
        if len(listed) < len(rows):
            data["members_truncated"] = {"listed": len(listed), "total": len(rows)}
        if self.check_jobs is not None:
            data["check_jobs"] = list(self.check_jobs)
        return data


def _listed(rows: Sequence[MemberRow]) -> Sequence[MemberRow]:
    """``rows``, or the first :data:`MAX_REPLY_ROWS` of them: members not changed as asked
    (refused, failed, not found) first, then those still queued, then the rest, each in order."""
    if len(rows) <= MAX_REPLY_ROWS:
        return rows

    def rank(row: MemberRow) -> int:
        return 0 if row.result in UNDONE else 1 if row.result == "queued" else 2

    return sorted(rows, key=rank)[:MAX_REPLY_ROWS]


class ScalingResult(_MemberReply):
    """A lifecycle notification's outcome: the instance's members and its lifecycle action."""

    instance_id: str
    address: str | None
    lifecycle: LifecycleStatus

    def reply(self) -> dict[str, object]:
        return {
            "instance_id": self.instance_id,
            "address": self.address,
            **self._members(),
            "lifecycle": self.lifecycle.model_dump(exclude_none=True),
        }


class DeploymentResult(_MemberReply):
    """A deployment event's outcome in its pool."""

    pool_id: str

    def reply(self) -> dict[str, object]:
        return {"pool_id": self.pool_id, **self._members()}


class DryRunResult(_Reply):
    """A desired-state dry run: the plan, nothing changed."""

    pool_id: str
    plan: dict[str, JsonValue] = Field(default_factory=dict)
    queued: Literal[False] = False

    def reply(self) -> dict[str, object]:
        return {"pool_id": self.pool_id, "dry_run": True, "plan": self.plan}


FlowResult = ScalingResult | DeploymentResult | DryRunResult
