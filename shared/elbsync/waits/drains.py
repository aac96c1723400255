"""Drains: members leave their pools gently, then a lifecycle action may go on.

A drain is recorded first, then its writes are queued in two stages through the write path:

1. members of pools that honour weights and have a drain time go to weight 0; the others are
   deleted at once;
2. once the weight-0 writes are applied and the longest drain time has passed since, the
   drained members are deleted.

Then the terminating instance's lifecycle action (if any) is completed with CONTINUE. A
transient failure anywhere leaves the drain where it is for the next tick; a delete ELB
refuses is a result (``failed``, with ``drain_delete_failed`` logged), not a retry loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from elbsync.clients.autoscaling import AutoScalingClient
from elbsync.flows.replies import MemberRow
from elbsync.members.writes import PoolWrite, WritePath, outcomes_of, queue_of
from elbsync.state.records import (
    Drain,
    DrainTarget,
    LifecycleActionRef,
    MemberChange,
    WriteIntent,
)
from elbsync.state.repository import StateRepository
from elbsync.waits.lifecycle import SETTLED_REASON, call_back

__all__ = ["DRAIN_GIVE_UP", "DrainStep", "Drains"]

_log = structlog.get_logger("elbsync.drains")

#: A drain still unfinished this long after it was recorded is given up (``expired``).
DRAIN_GIVE_UP = timedelta(days=1)


@dataclass(frozen=True)
class DrainStep:
    """What advancing a drain did: whether it no longer waits, and the intents it queued."""

    finished: bool
    queued: tuple[str, ...] = ()
    #: Members deleted when it finished.
    deleted: int = 0
    #: Its callback was refused and the action found decided already.
    settled: bool = False


class Drains:
    def __init__(
        self,
        autoscaling: AutoScalingClient | None,
        repo: StateRepository,
        writes: WritePath,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.autoscaling = autoscaling
        self.repo = repo
        self.writes = writes
        self.clock = clock

    # -- start -------------------------------------------------------------------------------

    def start(
        self,
        drain_id: str,
        targets: Sequence[DrainTarget],
        *,
        cause: str,
        then_complete: LifecycleActionRef | None = None,
    ) -> Drain:
        """Record the drain and queue its first stage; a replay returns what is recorded."""
        key = f"drain\n{drain_id}\nfirst"
        first = _stage_one(targets)
        record = Drain(
            drain_id=drain_id,
            targets=tuple(targets),
            weight_intents=self.writes.planned_ids(key, first),
            then_complete=then_complete,
            reason=cause,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        stored = self.repo.add(record)
        if stored.status == "draining" and stored.delete_after is None:
            self.writes.enqueue(key, _stage_one(stored.targets), cause=cause)
        _log.info("drain_recorded", drain_id=stored.drain_id, members=len(stored.targets))
        return stored

    # -- advance -----------------------------------------------------------------------------

    def advance(self, drain: Drain) -> DrainStep:
        """Move one drain on. Transient failures raise and leave it for the next tick."""
        now = self.clock()
        if now - drain.created_at > DRAIN_GIVE_UP:
            self.repo.update(drain.model_copy(update={"status": "expired", "reason": "gave up"}))
            _log.error("drain_expired", drain_id=drain.drain_id)
            return DrainStep(True)
        if drain.status == "draining":
            first = self.writes.results(drain.weight_intents)
            if len(first) < len(drain.weight_intents):
                return DrainStep(False)
            drained = [t for t in drain.targets if t.drain_seconds > 0]
            if not drained:
                return self._finish(drain, list(first.values()))
            if drain.delete_after is None:
                applied = max((i.finished_at or now for i in first.values()), default=now)
                longest = max(t.drain_seconds for t in drained)
                drain = self.repo.update(
                    drain.model_copy(update={"delete_after": applied + timedelta(seconds=longest)})
                )
            if drain.delete_after is not None and now < drain.delete_after:
                return DrainStep(False)
            key = f"drain\n{drain.drain_id}\ndelete"
            writes = _deletes(drained)
            self.writes.enqueue(key, writes, cause=drain.reason or f"drain {drain.drain_id}")
            drain = self.repo.update(
                drain.model_copy(
                    update={
                        "status": "deleting",
                        "delete_intents": self.writes.planned_ids(key, writes),
                    }
                )
            )
            return DrainStep(False, drain.delete_intents)
        second = self.writes.results(drain.delete_intents)
        if len(second) < len(drain.delete_intents):
            return DrainStep(False)
        first = self.writes.results(drain.weight_intents)
        return self._finish(drain, [*first.values(), *second.values()])

    def outcomes(self, drain: Drain) -> list[MemberRow] | None:
        """The first stage's outcomes, once applied (``None`` while queued)."""
        first = self.writes.results(drain.weight_intents)
        if len(first) < len(drain.weight_intents):
            return None
        return [row for intent in first.values() for row in outcomes_of(intent)]

    def _finish(self, drain: Drain, intents: list[WriteIntent]) -> DrainStep:
        rows = [row for intent in intents for row in outcomes_of(intent)]
        deleted = [r for r in rows if r.result in ("deleted", "not_found") and r.member_id]
        failed = [r for r in rows if r.result == "failed"]
        reason = f"deleted {len(deleted)} member(s)"
        if failed:
            _log.error(
                "drain_delete_failed",
                drain_id=drain.drain_id,
                failed=[r.reply() for r in failed],
            )
            reason += f"; ELB refused {len(failed)}"
        ref = drain.then_complete
        settled = False
        if ref is not None and self.autoscaling is not None:
            answer = call_back(
                self.autoscaling,
                ref.scaling_group_id,
                ref.action_key,
                ref.result,
                instance_id=ref.instance_id,
                hook_name=ref.hook_name,
            )
            settled = answer.settled
            if settled:
                reason += f"; {SETTLED_REASON}"
            elif not answer.completed:
                reason += f"; callback refused: {answer.error}"
        self.repo.update(
            drain.model_copy(
                update={
                    "status": "failed" if failed else "deleted",
                    "reason": reason,
                    "deleted_member_ids": tuple(str(r.member_id) for r in deleted),
                }
            )
        )
        return DrainStep(True, deleted=len(deleted), settled=settled)


def _stage_one(targets: Sequence[DrainTarget]) -> list[PoolWrite]:
    """Weight 0 for members that drain, a delete for the others."""
    changes: dict[tuple[str, str], list[MemberChange]] = defaultdict(list)
    for target in targets:
        if target.drain_seconds > 0:
            change = MemberChange(
                op="update",
                member_id=target.member_id,
                address=target.address,
                protocol_port=target.protocol_port,
                weight=0,
                label="draining",
            )
        else:
            change = _delete(target)
        changes[(target.pool_id, _queue(target))].append(change)
    return [PoolWrite(pool, queue, tuple(c)) for (pool, queue), c in changes.items()]


def _deletes(targets: Sequence[DrainTarget]) -> list[PoolWrite]:
    changes: dict[tuple[str, str], list[MemberChange]] = defaultdict(list)
    for target in targets:
        changes[(target.pool_id, _queue(target))].append(_delete(target))
    return [PoolWrite(pool, queue, tuple(c)) for (pool, queue), c in changes.items()]


def _queue(target: DrainTarget) -> str:
    return target.queue or queue_of(None, target.pool_id)


def _delete(target: DrainTarget) -> MemberChange:
    return MemberChange(
        op="delete",
        member_id=target.member_id,
        address=target.address,
        protocol_port=target.protocol_port,
    )
