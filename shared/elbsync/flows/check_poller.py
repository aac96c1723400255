"""check_poller: the only part of elbsync that waits, as a short scheduler over the waits.

Each tick it polls due member check jobs (:mod:`elbsync.waits.check_jobs`), sends what is left
in the write queues (:mod:`elbsync.members.writes`), advances lifecycle actions
(:mod:`elbsync.waits.lifecycle`) and drains (:mod:`elbsync.waits.drains`), sends the writes
those queued, and expires old records. Work is taken in order of due time; no new work starts
when the invocation's remaining time runs short, and whatever is not done stays pending,
consistent, for the next tick. Two overlapping ticks do no harm: every write is idempotent or
monotonic, and each balancer has one writer at a time.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import structlog

from elbsync.clients.autoscaling import AutoScalingClient
from elbsync.deadline import Deadline
from elbsync.errors import ElbsyncError
from elbsync.inbound.timer import timer_options
from elbsync.members.membership import Membership, membership_for
from elbsync.members.writes import queue_of_record
from elbsync.state.errors import StateError, TransitionRefusedError
from elbsync.state.records import CheckJob, Drain, LifecycleAction, WaitingRecord, WriteIntent

if TYPE_CHECKING:
    from elbsync.runtime import Invocation

__all__ = [
    "ACTION_SHARE",
    "CHECK_SHARE",
    "MIN_ITEM_SECONDS",
    "WRITE_SHARE",
    "Poller",
    "Tally",
    "handle",
]

_log = structlog.get_logger("elbsync.flows.check_poller")

R = TypeVar("R", bound=WaitingRecord)
T = TypeVar("T")

MIN_ITEM_SECONDS = 1.0
# Check jobs may use at most half of the tick and lifecycle actions most of what is left, so
# drains always get time too and nothing starves.
CHECK_SHARE = 0.5
ACTION_SHARE = 0.75
# Sending what is left in the write queues may use at most this share of what is left then.
WRITE_SHARE = 0.5


@dataclass
class Tally:
    """What a tick did; updated from worker threads, so only through :meth:`add`."""

    polled: int = 0
    finished: int = 0
    decided: Counter[str] = field(default_factory=Counter)
    drained: int = 0
    written: int = 0
    expired: int = 0
    #: Callbacks refused because the action was decided already (a lost reply, another tick).
    settled: int = 0
    purged: int = 0
    failures: int = 0
    stopped_early: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def decide(self, result: str) -> None:
        with self._lock:
            self.decided[result] += 1

    def summary(self, pending: dict[str, int]) -> dict[str, object]:
        return {
            "ok": self.failures == 0,
            "polled": self.polled,
            "finished": self.finished,
            "decided": {k: self.decided.get(k, 0) for k in ("CONTINUE", "ABANDON", "EXTEND")},
            "drained": self.drained,
            "written": self.written,
            "expired": self.expired,
            "settled": self.settled,
            "purged": self.purged,
            "pending": pending,
            "failures": self.failures,
            "stopped_early": self.stopped_early,
        }


class Poller:
    def __init__(
        self,
        *,
        membership: Membership,
        autoscaling: AutoScalingClient,
        deadline: Deadline,
        clock: Callable[[], datetime],
        concurrency: int = 8,
    ) -> None:
        self.membership = membership
        self.repo = membership.repo
        self.writes = membership.writes
        self.checks = membership.checks
        self.actions = membership.lifecycle_actions(autoscaling)
        self.drains = membership.drains(autoscaling)
        self.deadline = deadline
        self.clock = clock
        self.concurrency = concurrency
        self.tally = Tally()

    # -- the tick ----------------------------------------------------------------------------

    def tick(self, *, expire: bool = False) -> dict[str, object]:
        """One timer tick. ``expire`` also deletes finished records past their age."""
        check_budget = Deadline.after(self.deadline.remaining() * CHECK_SHARE)
        jobs, job_ids = self._load_pending(CheckJob, check_budget)
        finished = self._poll_check_jobs(jobs, check_budget)
        open_jobs = [j for j in jobs if j.job_id not in finished]
        open_ids = set(job_ids) - finished

        self._send_queued()

        action_budget = Deadline.after(self.deadline.remaining() * ACTION_SHARE)
        actions, action_ids = self._load_pending(LifecycleAction, action_budget)
        done_actions, queued = self._advance_actions(actions, open_jobs, open_ids, action_budget)
        drains, drain_ids = self._load_pending(Drain)
        done_drains, drain_queued = self._advance_drains(drains)
        if queued or drain_queued:
            # Send what this tick queued (abandoned members, drained members), then let the
            # drains that waited for it finish now rather than a tick later.
            intents = [*queued, *(r for ids in drain_queued.values() for r in ids)]
            self.writes.flush(queue_of_record(r) for r in intents)
            fresh = [self.repo.load_pending(Drain, drain_id) for drain_id in drain_queued]
            again, _ = self._advance_drains([d for d in fresh if d is not None])
            done_drains |= again

        if expire and self._has_time():
            report = self.repo.expire(deadline=self.deadline)
            self.tally.add("purged", report.deleted)
        intents_left = (
            sum(1 for _ in self.repo.pending_ids(WriteIntent)) if self._has_time() else -1
        )
        if any(report.calls for report in self.writes.reports):
            # Writes this tick sent started check jobs the first listing could not see.
            open_ids |= set(self.repo.pending_ids(CheckJob)) - finished
        pending = {
            "check_jobs": len(open_ids),
            "lifecycle_actions": len(action_ids) - len(done_actions),
            "drains": len(drain_ids) - len(done_drains),
            "write_intents": intents_left,
        }
        summary = self.tally.summary(pending)
        _log.info("check_poller_summary", **summary)
        return summary

    def _has_time(self, budget: Deadline | None = None) -> bool:
        enough = self.deadline.remaining() >= MIN_ITEM_SECONDS
        if budget is not None:
            enough = enough and budget.remaining() > 0
        if not enough:
            self.tally.stopped_early = True
        return enough

    def _parallel(
        self,
        work: Callable[[T], None],
        items: Iterable[T],
        budget: Deadline | None,
        *,
        kind: str,
        name: Callable[[T], str],
    ) -> None:
        """Run ``work`` on items in the order given, at most ``concurrency`` at once.

        An item starts only when a worker is free and enough time is left, so a short
        invocation stops cleanly between items and leaves the rest for the next tick. One
        item's failure is logged and counted; it never stops the others.
        """
        slots = threading.BoundedSemaphore(self.concurrency)

        def run(item: T) -> None:
            try:
                work(item)
            except TransitionRefusedError as exc:
                # Another run (overlapping ticks) moved the record on first: it owns this step.
                _log.info("poll_item_moved_on", kind=kind, record_id=name(item), reason=exc.message)
            except (ElbsyncError, StateError) as exc:
                self.tally.add("failures", 1)
                _log.error("poll_item_failed", kind=kind, record_id=name(item), error=exc.to_dict())
            finally:
                slots.release()

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="poll") as pool:
            for item in items:
                slots.acquire()
                if not self._has_time(budget):
                    slots.release()
                    break
                pool.submit(contextvars.copy_context().run, run, item)

    def _load_pending(
        self, model: type[R], budget: Deadline | None = None
    ) -> tuple[list[R], list[str]]:
        """The pending records of a kind (read in parallel while time lasts) and all their ids
        (one listing, complete even when time ran out before every record was read)."""
        loaded: list[R] = []

        def load(record_id: str) -> None:
            record = self.repo.load_pending(model, record_id)
            if record is not None and not record.terminal:
                loaded.append(record)

        kind = str(model.model_fields["kind"].default)
        ids = list(self.repo.pending_ids(model))
        self._parallel(load, ids, budget, kind=kind, name=str)
        return loaded, ids

    # -- check jobs --------------------------------------------------------------------------

    def _poll_check_jobs(self, jobs: list[CheckJob], budget: Deadline) -> set[str]:
        """Poll the due jobs; returns the ids of those that finished."""
        now = self.clock()
        due = sorted((j for j in jobs if j.next_poll_at <= now), key=lambda j: j.next_poll_at)
        finished: set[str] = set()
        notes: list[tuple[str, CheckJob]] = []

        def poll(job: CheckJob) -> None:
            outcome = self.checks.advance(job)
            if job.status != "expired" and (outcome is None or outcome.job.status != "expired"):
                self.tally.add("polled", 1)
            if outcome is None:
                return
            finished.add(job.job_id)
            if outcome.job.status == "expired":
                self.tally.add("expired", 1)
            else:
                self.tally.add("finished", 1)
            major = [f for f in outcome.findings if f.blocks]
            if major and job.lifecycle_action_id:
                notes.append((job.lifecycle_action_id, outcome.job))

        self._parallel(poll, due, budget, kind="check_job", name=lambda j: j.job_id)
        self._parallel(
            lambda note: self._note_findings(*note),
            notes,
            None,
            kind="lifecycle_action",
            name=lambda note: note[0],
        )
        return finished

    def _note_findings(self, action_key: str, job: CheckJob) -> None:
        """Keep a finished job's Major findings on the lifecycle action that waits on it."""
        major = tuple(f for f in job.findings if f.blocks)
        action = self.repo.load(LifecycleAction, action_key)
        if action is None or action.terminal:
            return
        merged = tuple(dict.fromkeys(action.findings + major))
        self.repo.update(action.model_copy(update={"findings": merged}))

    # -- write queues ------------------------------------------------------------------------

    def _send_queued(self) -> None:
        """Send what invocations left in the write queues (one lease per balancer)."""
        if not self._has_time():
            return
        before = len(self.writes.reports)
        queues = {queue_of_record(r) for r in self.repo.pending_ids(WriteIntent)}
        self.writes.flush(
            sorted(queues), budget=Deadline.after(self.deadline.remaining() * WRITE_SHARE)
        )
        self.tally.add("written", sum(r.finished for r in self.writes.reports[before:]))

    # -- lifecycle actions -------------------------------------------------------------------

    def _advance_actions(
        self,
        actions: list[LifecycleAction],
        open_jobs: list[CheckJob],
        open_ids: set[str],
        budget: Deadline,
    ) -> tuple[set[str], list[str]]:
        """Advance every action; returns those that no longer wait, and the intents queued."""
        waiting_on: dict[str, int] = Counter(
            j.lifecycle_action_id for j in open_jobs if j.lifecycle_action_id
        )
        for action in actions:  # jobs not read this tick still count, by id
            unread = [i for i in action.check_job_ids if i in open_ids]
            waiting_on[action.action_key] = max(waiting_on.get(action.action_key, 0), len(unread))
        ordered = sorted(actions, key=lambda a: min(a.health_deadline, a.hook_deadline))
        done: set[str] = set()
        queued: list[str] = []

        def advance(action: LifecycleAction) -> None:
            result = self.actions.advance(action, open_checks=waiting_on.get(action.action_key, 0))
            queued.extend(result.queued)
            if result.verdict.verb == "extend":
                self.tally.decide("EXTEND")
            if result.finished:
                done.add(action.action_key)
                if result.verdict.verb == "expired":
                    self.tally.add("expired", 1)
                elif result.settled:
                    self.tally.add("settled", 1)
                else:
                    self.tally.decide(
                        "CONTINUE" if result.verdict.verb == "continue" else "ABANDON"
                    )

        self._parallel(
            advance, ordered, budget, kind="lifecycle_action", name=lambda a: a.action_key
        )
        return done, queued

    # -- drains ------------------------------------------------------------------------------

    def _advance_drains(self, drains: list[Drain]) -> tuple[set[str], dict[str, tuple[str, ...]]]:
        """Advance every drain; returns those that no longer wait, and the intents each of
        the others queued."""
        ordered = sorted(
            drains, key=lambda d: (d.delete_after is None, d.delete_after or d.created_at)
        )
        done: set[str] = set()
        queued: dict[str, tuple[str, ...]] = {}

        def advance(drain: Drain) -> None:
            step = self.drains.advance(drain)
            if step.queued:
                queued[drain.drain_id] = step.queued
            if step.finished:
                done.add(drain.drain_id)
                self.tally.add("drained", step.deleted)
                if step.settled:
                    self.tally.add("settled", 1)
                elif drain.then_complete is not None:
                    self.tally.decide(drain.then_complete.result)

        self._parallel(advance, ordered, None, kind="drain", name=lambda d: d.drain_id)
        return done, queued


def handle(invocation: Invocation, event: Mapping[str, object]) -> dict[str, object]:
    """The work of the check_poller function: one tick."""
    options = timer_options(event)
    if options.warnings:
        _log.warning("timer_options_ignored", problems=options.warnings)
    poller = Poller(
        membership=membership_for(invocation),
        autoscaling=invocation.autoscaling(),
        deadline=invocation.deadline,
        clock=invocation.clock,
        concurrency=invocation.settings.poll_concurrency,
    )
    hourly = invocation.clock().minute == 0
    summary = poller.tick(expire=options.expire or hourly)
    if options.warnings:
        summary["warnings"] = options.warnings
    return summary
