"""The write path: one writer per load balancer, coordinated through the state store.

ELB refuses writes while a balancer applies the previous one, and a burst of launches is many
invocations racing for one balancer. So no flow writes members itself. It *enqueues* its
changes as a :class:`~elbsync.state.records.WriteIntent` (one per balancer, under that
balancer's queue) and then tries to take the balancer's lease (:mod:`elbsync.state.lease`):

- the holder lets a burst gather for a moment, then sends every queued change of the
  balancer's pools in the fewest batch calls (at most 200 members each), waits out the busy
  window once after each write instead of retrying into it, lists the queue again while time
  allows, records each intent's results, and gives the lease back;
- an invocation that does not get the lease returns at once: its changes are queued, and the
  holder, the next invocation or the poller's next tick sends them;
- when the holder dies, its lease expires with its invocation and nothing queued is lost;
- a transient failure (throttling, 5xx, a balancer that stays busy, time running out) leaves
  changes queued, never failed. Only ELB's refusal of a member is a ``failed`` result.

Writes to different balancers go on in parallel. An intent is finished (moved to ``done/``)
once every change has a result; then its audit entry is written and, for intents that ask for
it, member check jobs are started for the members it added.
"""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import structlog
from pydantic import JsonValue

from elbsync.clients.elb import BATCH_LIMIT, ElbClient
from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError, ElbsyncError
from elbsync.flows.replies import MemberRow
from elbsync.members.executor import Executor
from elbsync.state.errors import StateError
from elbsync.state.lease import Lease, Leases
from elbsync.state.records import (
    AuditEntry,
    ChangeOp,
    ChangeResult,
    CheckSpec,
    MemberChange,
    PoolChanges,
    WriteIntent,
)
from elbsync.state.repository import StateRepository

__all__ = [
    "INTENT_GIVE_UP",
    "MAX_PACE_S",
    "ROUND_RESERVE_S",
    "DrainReport",
    "Pacer",
    "PoolWrite",
    "WritePath",
    "intent_id",
    "intent_record_id",
    "outcomes_of",
    "queue_of",
    "queue_of_record",
]

_log = structlog.get_logger("elbsync.writes")

#: A round (list, send, record) starts only with this much time left beyond one busy window.
ROUND_RESERVE_S = 2.0
#: Waits after a busy refusal grow up to this.
MAX_PACE_S = 10.0
#: An intent still queued after this long is finished as ``expired`` by the poller.
INTENT_GIVE_UP = timedelta(days=1)
_OPS: tuple[ChangeOp, ...] = ("add", "update", "delete")


def queue_of(load_balancer_id: str | None, pool_id: str) -> str:
    """The write queue of a pool: its load balancer's, else the pool's own."""
    return load_balancer_id or f"pool-{pool_id}"


def intent_id(*parts: str) -> str:
    """A stable intent id from what causes it, so enqueuing again is harmless."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


def intent_record_id(key: str, queue: str) -> str:
    """The record id (``queue/intent_id``) of the intent ``key`` queues on ``queue``."""
    return f"{queue}/{intent_id(key, queue)}"


@dataclass(frozen=True)
class PoolWrite:
    """Changes a flow wants in one pool, and the queue (load balancer) they go through."""

    pool_id: str
    queue: str
    changes: tuple[MemberChange, ...]


def outcomes_of(intent: WriteIntent) -> list[MemberRow]:
    """Every change of an intent with its result (``queued`` for those still waiting)."""
    rows = []
    for pool in intent.pools:
        for index, change in enumerate(pool.changes):
            result = pool.result_of(index)
            rows.append(
                MemberRow(
                    pool_id=pool.pool_id,
                    result=result.result if result else "queued",
                    address=change.address,
                    protocol_port=change.protocol_port,
                    member_id=(result.member_id if result else None) or change.member_id,
                    weight=change.weight,
                    error=result.error if result else None,
                )
            )
    return rows


@dataclass
class Pacer:
    """When the next write to one balancer may go: after the busy window of the last one."""

    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    deadline: Deadline
    pace_s: float
    quiet_until: datetime | None = None

    def waits(self) -> bool:
        """Whether the next write would have to wait."""
        return self.quiet_until is not None and self.quiet_until > self.clock()

    def wait(self) -> None:
        if self.quiet_until is None:
            return
        wait = (self.quiet_until - self.clock()).total_seconds()
        if wait <= 0:
            return
        if wait >= self.deadline.remaining():
            raise DeadlineExceededError("no time left to wait for the load balancer's busy window")
        self.sleep(wait)

    def before_write(self) -> None:
        self.wait()

    def after_write(self) -> None:
        self.quiet_until = self.clock() + timedelta(seconds=self.pace_s)

    def refused_busy(self) -> None:
        self.pace_s = min(MAX_PACE_S, max(0.25, self.pace_s * 2))
        _log.warning("load_balancer_busy_longer", pace_s=self.pace_s)
        self.after_write()


@dataclass
class DrainReport:
    """What one lease holder did."""

    queue: str
    rounds: int = 0
    calls: int = 0
    busy_refusals: int = 0
    finished: int = 0
    interrupted: ElbsyncError | None = None


@dataclass
class _Slot:
    """One change in a round: where it lives, and who else asked for the same change."""

    intent: int
    pool: int
    change: int
    also: list[tuple[int, int, int]] = field(default_factory=list)


class WritePath:
    """Enqueue member changes and, when this invocation gets the lease, send them."""

    def __init__(
        self,
        elb: ElbClient,
        repo: StateRepository,
        *,
        deadline: Deadline,
        clock: Callable[[], datetime],
        pace_s: float = 1.0,
        linger_s: float = 0.25,
        actor: str = "elbsync",
        request_id: str = "",
        sleep: Callable[[float], None] | None = None,
        start_checks: Callable[[WriteIntent], tuple[str, ...]] | None = None,
    ) -> None:
        self.elb = elb
        self.repo = repo
        self.leases = Leases(repo.store, clock=clock)
        self.deadline = deadline
        self.clock = clock
        self.pace_s = pace_s
        self.linger_s = linger_s
        self.actor = actor
        self.request_id = request_id
        self.sleep = sleep or time.sleep
        self.start_checks = start_checks
        self.reports: list[DrainReport] = []
        #: Intents this invocation finished or read finished, by record id.
        self._finished: dict[str, WriteIntent] = {}
        #: Intents this invocation sent and ELB accounted for none of: not sent again now.
        self._stalled: set[str] = set()
        self._budget: Deadline | None = None

    # -- what flows call -----------------------------------------------------------------

    @staticmethod
    def planned_ids(key: str, writes: Sequence[PoolWrite]) -> tuple[str, ...]:
        """The record ids :meth:`enqueue` gives these writes, known before they are queued."""
        queues = dict.fromkeys(w.queue for w in writes if w.changes)
        return tuple(intent_record_id(key, queue) for queue in queues)

    def enqueue(
        self,
        key: str,
        writes: Sequence[PoolWrite],
        *,
        cause: str,
        checks: CheckSpec | None = None,
    ) -> list[str]:
        """Record the changes as one intent per queue (id derived from ``key`` and the queue);
        returns their record ids. Enqueuing the same key again returns what is recorded."""
        by_queue: dict[str, list[PoolWrite]] = defaultdict(list)
        for write in writes:
            if write.changes:
                by_queue[write.queue].append(write)
        record_ids = []
        for queue, pool_writes in by_queue.items():
            pools: dict[str, list[MemberChange]] = defaultdict(list)
            for write in pool_writes:
                pools[write.pool_id].extend(write.changes)
            intent = WriteIntent(
                queue=queue,
                intent_id=intent_id(key, queue),
                pools=tuple(PoolChanges(pool_id=p, changes=tuple(c)) for p, c in pools.items()),
                cause=cause,
                checks=checks,
                created_at=self.clock(),
                updated_at=self.clock(),
            )
            stored = self.repo.add(intent, deadline=self.deadline)
            if stored.terminal:
                self._finished[stored.record_id] = stored
            else:
                _log.info(
                    "write_queued",
                    queue=queue,
                    intent_id=stored.intent_id,
                    changes=sum(len(p.changes) for p in stored.pools),
                )
            record_ids.append(stored.record_id)
        return record_ids

    def submit(
        self,
        key: str,
        writes: Sequence[PoolWrite],
        *,
        cause: str,
        checks: CheckSpec | None = None,
    ) -> list[str]:
        """Enqueue, then send what this invocation may (see :meth:`flush`)."""
        record_ids = self.enqueue(key, writes, cause=cause, checks=checks)
        self.flush(queue_of_record(r) for r in record_ids if r not in self._finished)
        return record_ids

    def results(self, record_ids: Iterable[str]) -> dict[str, WriteIntent]:
        """The finished intents among ``record_ids`` (one read each not already known)."""
        found = {}
        for record_id in record_ids:
            intent = self._finished.get(record_id)
            if intent is None:
                intent = self.repo.load_done(WriteIntent, record_id, deadline=self.deadline)
                if intent is not None:
                    self._finished[record_id] = intent
            if intent is not None:
                found[record_id] = intent
        return found

    def current(self, record_ids: Iterable[str]) -> list[WriteIntent]:
        """The intents as they stand: finished, else still queued (missing ones left out)."""
        ids = list(record_ids)
        done = self.results(ids)
        found = []
        for record_id in ids:
            intent = done.get(record_id) or self.repo.load_pending(
                WriteIntent, record_id, deadline=self.deadline
            )
            if intent is not None:
                found.append(intent)
        return found

    def flush(self, queues: Iterable[str], *, budget: Deadline | None = None) -> None:
        """Send the queued changes of each queue whose lease this invocation gets; queues of
        different load balancers in parallel. No new round starts once ``budget`` (or the
        invocation's deadline) is used up: the poller keeps time for the rest of its tick."""
        self._budget = budget
        wanted = list(dict.fromkeys(queues))
        if len(wanted) <= 1:
            for queue in wanted:
                self._flush_queue(queue)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(wanted)), thread_name_prefix="lb") as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, self._flush_queue, queue)
                for queue in wanted
            ]
            for future in futures:
                future.result()

    # -- the lease holder ----------------------------------------------------------------

    def _flush_queue(self, queue: str) -> None:
        while self._time_for_a_round(self.pace_s):
            try:
                lease = self.leases.acquire(
                    queue, seconds=self.deadline.remaining(), deadline=self.deadline
                )
            except (StateError, DeadlineExceededError) as exc:
                _log.warning("write_lease_unavailable", queue=queue, error=exc.to_dict())
                return
            if lease is None:
                _log.info("write_lease_held_elsewhere", queue=queue)
                return
            report = self._hold(queue, lease)
            if report.interrupted is not None:
                return
            # Someone may have queued work and found the lease held just before we let go.
            waiting = self.repo.pending_ids(WriteIntent, partition=queue)
            if not any(record_id not in self._stalled for record_id in waiting):
                return

    def _hold(self, queue: str, lease: Lease) -> DrainReport:
        pacer = Pacer(
            clock=self.clock,
            sleep=self.sleep,
            deadline=self._pacing_deadline(),
            pace_s=lease.pace_s if lease.pace_s is not None else self.pace_s,
            quiet_until=_later(lease.quiet_until, self.clock() + timedelta(seconds=self.linger_s)),
        )
        executor = Executor(self.elb, pacer)
        report = DrainReport(queue)
        try:
            self._drain(queue, pacer, executor, report)
        except (ElbsyncError, StateError) as exc:
            report.interrupted = exc
            _log.warning("write_queue_interrupted", queue=queue, error=exc.to_dict())
        finally:
            self.leases.release(lease, quiet_until=pacer.quiet_until, pace_s=pacer.pace_s)
        report.calls, report.busy_refusals = executor.calls, executor.busy_refusals
        self.reports.append(report)
        _log.info(
            "write_queue_drained",
            queue=queue,
            rounds=report.rounds,
            calls=report.calls,
            busy_refusals=report.busy_refusals,
            finished=report.finished,
            interrupted=report.interrupted is not None,
        )
        return report

    def _drain(self, queue: str, pacer: Pacer, executor: Executor, report: DrainReport) -> None:
        known: dict[str, WriteIntent] = {}
        stalled = self._stalled
        first = True
        while self._time_for_a_round(pacer.pace_s):
            listed = list(self.repo.pending_ids(WriteIntent, partition=queue))
            if not listed and not first:
                return
            first = False
            if pacer.waits():  # let the burst gather and the balancer settle, then look again
                pacer.wait()
                listed = list(self.repo.pending_ids(WriteIntent, partition=queue))
            for record_id in listed:
                if record_id not in known:
                    loaded = self.repo.load_pending(WriteIntent, record_id, deadline=self.deadline)
                    if loaded is not None:
                        known[record_id] = loaded
            intents = sorted(
                (known[r] for r in listed if r in known and r not in stalled),
                key=lambda i: (i.created_at, i.intent_id),
            )
            for old in [i for i in intents if self.clock() - i.created_at > INTENT_GIVE_UP]:
                _log.error("write_intent_expired", queue=queue, intent_id=old.intent_id)
                self.repo.finish(old.model_copy(update={"status": "expired"}))
                known.pop(old.record_id, None)
                intents.remove(old)
            if not intents:
                return
            report.rounds += 1
            updated, sent, interrupted = self._round(intents, executor)
            for index, (before, after) in enumerate(zip(intents, updated, strict=True)):
                if after.settled:
                    self._finish(after)
                    known.pop(after.record_id, None)
                    report.finished += 1
                elif _answered(after) > _answered(before):
                    known[after.record_id] = self.repo.rewrite(
                        after.model_copy(update={"rounds": after.rounds + 1}),
                        deadline=self.deadline,
                    )
                elif index in sent and interrupted is None:
                    # Sent, and ELB's reply accounted for none of it: not again now.
                    stalled.add(after.record_id)
            if interrupted is not None:
                report.interrupted = interrupted
                return

    def _round(
        self, intents: list[WriteIntent], executor: Executor
    ) -> tuple[list[WriteIntent], set[int], ElbsyncError | None]:
        """Send every waiting change of these intents in the fewest batches; returns the
        intents with their new results, which of them had changes sent, and the transient
        failure that stopped the round."""
        results: list[list[list[ChangeResult | None]]] = [
            [[pool.result_of(i) for i in range(len(pool.changes))] for pool in intent.pools]
            for intent in intents
        ]
        interrupted: ElbsyncError | None = None
        sent: set[int] = set()
        for (pool_id, op, _by_id), slots in _batches(intents, results).items():
            for start in range(0, len(slots), BATCH_LIMIT):
                chunk = slots[start : start + BATCH_LIMIT]
                changes = [intents[s.intent].pools[s.pool].changes[s.change] for s in chunk]
                outcome = executor.send(pool_id, op, changes)
                for slot, result in zip(chunk, outcome.results, strict=True):
                    for i, p, c in [(slot.intent, slot.pool, slot.change), *slot.also]:
                        results[i][p][c] = result
                        sent.add(i)
                if outcome.interrupted is not None:
                    interrupted = outcome.interrupted
                    break
            if interrupted is not None:
                break
        updated = [
            intent.model_copy(
                update={
                    "pools": tuple(
                        pool.model_copy(update={"results": tuple(results[i][p])})
                        for p, pool in enumerate(intent.pools)
                    )
                }
            )
            for i, intent in enumerate(intents)
        ]
        return updated, sent, interrupted

    def _finish(self, intent: WriteIntent) -> None:
        job_ids: tuple[str, ...] = ()
        if intent.checks is not None and self.start_checks is not None:
            job_ids = self.start_checks(intent)
        done = self.repo.finish(
            intent.model_copy(update={"status": "done", "check_job_ids": job_ids}),
            deadline=self.deadline,
        )
        self._finished[done.record_id] = done
        self._audit(done)

    def _audit(self, intent: WriteIntent) -> None:
        rows = [o.reply() for o in outcomes_of(intent)]
        failed = any(row["result"] == "failed" for row in rows)
        try:
            self.repo.append_audit(
                AuditEntry(
                    action="members_written",
                    subject=intent.queue,
                    outcome="failed" if failed else "ok",
                    actor=self.actor,
                    request_id=self.request_id,
                    details={
                        "cause": intent.cause,
                        "intent_id": intent.intent_id,
                        "members": cast(JsonValue, rows),
                    },
                ),
                deadline=self.deadline,
            )
        except (StateError, DeadlineExceededError) as exc:
            _log.warning("audit_entry_lost", intent_id=intent.intent_id, error=exc.to_dict())

    def _time_for_a_round(self, pace_s: float) -> bool:
        """Whether a round may start: with a budget, while it lasts (the round's waits for the
        busy window end with it too, see :meth:`_pacing_deadline`); always with time left to
        send and record; without a budget, with time for one busy window more."""
        if self._budget is not None:
            return self._budget.remaining() > 0 and self.deadline.remaining() > ROUND_RESERVE_S
        return self.deadline.remaining() > pace_s + ROUND_RESERVE_S

    def _pacing_deadline(self) -> Deadline:
        """No wait for a busy window may end past the budget (or the deadline)."""
        if self._budget is None or self._budget.expires_at >= self.deadline.expires_at:
            return self.deadline
        return self._budget


def _answered(intent: WriteIntent) -> int:
    """How many of an intent's changes have a result."""
    return sum(
        pool.result_of(i) is not None for pool in intent.pools for i in range(len(pool.changes))
    )


def queue_of_record(record_id: str) -> str:
    """The queue part of a write intent's record id (``queue/intent_id``)."""
    return record_id.split("/", 1)[0]


def _later(first: datetime | None, second: datetime) -> datetime:
    return second if first is None or second > first else first


def _batches(
    intents: list[WriteIntent], results: list[list[list[ChangeResult | None]]]
) -> dict[tuple[str, ChangeOp, bool], list[_Slot]]:
    """The waiting changes grouped into calls: per pool, adds, then updates, then deletes
    (by id apart from by address). The same change asked twice is sent once; a member with
    an earlier change of another kind waiting in this round waits for the next round."""
    groups: dict[tuple[str, ChangeOp, bool], list[_Slot]] = {}
    seen: dict[tuple[str, str], tuple[ChangeOp, _Slot]] = {}
    for i, intent in enumerate(intents):
        for p, pool in enumerate(intent.pools):
            for c, change in enumerate(pool.changes):
                if results[i][p][c] is not None:
                    continue
                key = (pool.pool_id, change.endpoint)
                earlier = seen.get(key)
                if earlier is not None:
                    op, slot = earlier
                    if op == change.op and _same(intents, slot, change):
                        slot.also.append((i, p, c))
                    continue  # another kind of change (or another add) waits a round
                slot = _Slot(i, p, c)
                seen[key] = (change.op, slot)
                by_id = change.op != "add" and change.member_id is not None
                groups.setdefault((pool.pool_id, change.op, by_id), []).append(slot)
    order = {op: n for n, op in enumerate(_OPS)}
    return dict(sorted(groups.items(), key=lambda item: (item[0][0], order[item[0][1]])))


def _same(intents: list[WriteIntent], slot: _Slot, change: MemberChange) -> bool:
    first = intents[slot.intent].pools[slot.pool].changes[slot.change]
    return first == change
