"""The executor: sends one pool's member changes to ELB as batch calls, paced by its writer.

It is used only by the write path (:mod:`elbsync.members.writes`), which holds the load
balancer's lease and decides what to send. The executor turns changes into batch calls of at
most 200 members, waits for the balancer's busy window before each call (its :class:`Pacing`,
in the write path a :class:`~elbsync.members.writes.Pacer`), and tells apart what ELB decided
from what it did not answer:

- a permanent refusal about the members (a 4xx other than throttling, busy or access) is a
  result: the members are ``failed`` with ELB's error. When ELB refuses a whole batch with a
  400, the batch is halved until the bad members stand alone, so the others still go in;
- anything transient (throttling, 5xx, a busy balancer that stays busy, a dropped connection,
  time running out, no access) leaves the changes without a result: they stay queued and are
  sent again later. Sending again is harmless (``existed`` and ``not found`` are successes);
- a member a batch reply does not account for gets no result either: never an invented one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from elbsync.clients.elb import ElbClient, MemberRef, MemberResult, MemberUpdate, NewMember
from elbsync.errors import ApiError, BadRequestError, BusyError, ElbsyncError, is_transient
from elbsync.state.records import ChangeOp, ChangeResult, ChangeResultName, MemberChange

__all__ = ["BUSY_REFUSALS_PER_CALL", "ISOLATION_CALLS", "BatchOutcome", "Executor", "Pacing"]

_log = structlog.get_logger("elbsync.members.executor")

#: The most calls one refused batch may spend isolating its bad members.
ISOLATION_CALLS = 40
#: How many busy refusals one call may meet before its changes are left for later.
BUSY_REFUSALS_PER_CALL = 4


class Pacing(Protocol):
    """The writer's clock for one load balancer: when the next write may go."""

    def before_write(self) -> None:
        """Wait until the balancer should accept a write (raises when time is up)."""

    def after_write(self) -> None:
        """A write was answered: the balancer is busy for a while now."""

    def refused_busy(self) -> None:
        """A write met the busy window: wait longer this time and after the next writes."""


@dataclass
class BatchOutcome:
    """Results in the order of the changes (``None``: no result yet, send again later), and
    the transient failure that stopped the batch, if one did."""

    results: list[ChangeResult | None]
    interrupted: ElbsyncError | None = None


class Executor:
    def __init__(self, elb: ElbClient, pacer: Pacing) -> None:
        self._elb = elb
        self._pacer = pacer
        self.calls = 0
        self.busy_refusals = 0

    def send(self, pool_id: str, op: ChangeOp, changes: Sequence[MemberChange]) -> BatchOutcome:
        """Send one batch (at most 200 changes of one kind, deletes all by id or all by
        address), isolating bad members when ELB refuses it as a whole."""
        outcome = BatchOutcome([None] * len(changes))
        self._send(pool_id, op, list(range(len(changes))), changes, outcome, [ISOLATION_CALLS])
        return outcome

    def _send(
        self,
        pool_id: str,
        op: ChangeOp,
        indexes: list[int],
        changes: Sequence[MemberChange],
        outcome: BatchOutcome,
        budget: list[int],
        refused: ApiError | None = None,
    ) -> None:
        if not indexes or outcome.interrupted is not None:
            return
        chunk = [changes[i] for i in indexes]
        if refused is not None and budget[0] <= 0:
            for i in indexes:
                outcome.results[i] = _failed(refused)
            return
        budget[0] -= 1
        try:
            replies = self._call(pool_id, op, chunk)
        except BadRequestError as exc:
            if len(indexes) == 1 or budget[0] <= 0:
                _log.warning(
                    "member_change_refused",
                    pool_id=pool_id,
                    op=op,
                    members=[c.endpoint for c in chunk],
                    error_code=exc.error_code,
                )
                for i in indexes:
                    outcome.results[i] = _failed(exc)
                return
            middle = len(indexes) // 2
            self._send(pool_id, op, indexes[:middle], changes, outcome, budget, exc)
            self._send(pool_id, op, indexes[middle:], changes, outcome, budget, exc)
            return
        except ElbsyncError as exc:
            if is_transient(exc):
                _log.warning(
                    "member_batch_deferred",
                    pool_id=pool_id,
                    op=op,
                    size=len(indexes),
                    error=exc.to_dict(),
                )
                outcome.interrupted = exc
                return
            _log.error("member_batch_refused", pool_id=pool_id, op=op, error=exc.to_dict())
            for i in indexes:
                outcome.results[i] = _failed(exc)
            return
        for i, reply in zip(indexes, _pair(chunk, replies), strict=True):
            outcome.results[i] = None if reply is None else _result(changes[i], reply)

    def _call(self, pool_id: str, op: ChangeOp, chunk: list[MemberChange]) -> list[MemberResult]:
        """One batch call after the busy window; a busy refusal waits longer and tries again."""

        def send() -> list[MemberResult]:
            if op == "add":
                return self._elb.batch_add(pool_id, [_new(c) for c in chunk], retry_busy=False)
            if op == "update":
                updates = [MemberUpdate(id=str(c.member_id), weight=c.weight) for c in chunk]
                return self._elb.batch_update(pool_id, updates, retry_busy=False)
            return self._elb.batch_delete(pool_id, [_ref(c) for c in chunk], retry_busy=False)

        refusals = 0
        while True:
            self._pacer.before_write()
            self.calls += 1
            try:
                replies = send()
            except BusyError:
                self.busy_refusals += 1
                refusals += 1
                self._pacer.refused_busy()
                if refusals >= BUSY_REFUSALS_PER_CALL:
                    raise
                continue
            except ElbsyncError as exc:
                # A refusal changed nothing; after a lost reply or a 5xx it may have.
                if is_transient(exc):
                    self._pacer.after_write()
                raise
            self._pacer.after_write()
            return replies


def _new(change: MemberChange) -> NewMember:
    return NewMember(
        address=str(change.address),
        protocol_port=int(change.protocol_port or 0),
        subnet_cidr_id=change.subnet_cidr_id,
        weight=change.weight,
        name=change.name,
    )


def _ref(change: MemberChange) -> MemberRef:
    if change.member_id:
        return MemberRef(id=change.member_id)
    return MemberRef(address=change.address, protocol_port=change.protocol_port)


def _pair(chunk: list[MemberChange], replies: list[MemberResult]) -> list[MemberResult | None]:
    """Each change's reply: by id or address and port, else by position when the counts
    agree and nothing contradicts it; ``None`` for a change the reply does not account for."""
    by_id = {r.id: r for r in replies if r.id}
    by_endpoint = {r.key: r for r in replies if r.address}
    paired: list[MemberResult | None] = []
    for index, change in enumerate(chunk):
        found = by_id.get(change.member_id) if change.member_id else None
        if found is None and change.address is not None:
            found = by_endpoint.get(change.key)
        if found is None and len(replies) == len(chunk):
            positional = replies[index]
            if not positional.address and not positional.id:
                found = positional
        paired.append(found)
    return paired


def _result(change: MemberChange, reply: MemberResult) -> ChangeResult:
    name: ChangeResultName
    if change.op == "add":
        name = "existed" if reply.ret_status == "existed" else "added"
    elif change.op == "delete":
        name = "not_found" if reply.ret_status == "not found" else "deleted"
    else:
        name = change.label or "reweighted"
    return ChangeResult(result=name, member_id=reply.id or change.member_id)


def _failed(error: ElbsyncError) -> ChangeResult:
    return ChangeResult(result="failed", error=error.to_json())
