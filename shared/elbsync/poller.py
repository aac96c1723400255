"""check_poller: the only part of elbsync that waits.

Each tick it polls due member check jobs, decides launching instances' lifecycle actions on
member health (CONTINUE, the binding's policy, or EXTEND), deletes drained members and then lets
terminating instances go, and expires old records. Work is taken in order of due time; no new
work starts when the invocation's remaining time runs short, and whatever is not done stays
pending, consistent, for the next tick. Two overlapping ticks do no harm: every write is
idempotent or monotonic, and a second callback for one action is refused by Auto Scaling and
recorded.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import structlog

from elbsync.autoscaling import AutoScalingClient, LifecycleResult
from elbsync.checks import findings as rendered_findings
from elbsync.deadline import Deadline
from elbsync.elb import ElbClient, Member, MemberRef
from elbsync.errors import ApiError, ElbsyncError, InputError, NotFoundError
from elbsync.executor import Change, PoolWrite
from elbsync.membership import Membership
from elbsync.state.errors import StateError, TransitionRefused
from elbsync.state.records import (
    AuditEntry,
    CheckFinding,
    CheckJob,
    Drain,
    LifecycleAction,
    WaitingRecord,
)
from elbsync.state.repository import StateRepository

if TYPE_CHECKING:
    from elbsync.runtime import Invocation

_log = structlog.get_logger("elbsync.poller")

R = TypeVar("R", bound=WaitingRecord)
T = TypeVar("T")

HEALTHY = frozenset({"ONLINE", "NO_MONITOR"})
MAX_CHECK_RETRIES = 2
EXTEND_LEAD = timedelta(minutes=3)
EXTEND_BY = timedelta(hours=1)
DRAIN_GIVE_UP = timedelta(days=1)
MIN_ITEM_SECONDS = 1.0
# Check jobs may use at most half of the tick and lifecycle actions most of what is left, so
# drains always get time too and nothing starves.
CHECK_SHARE = 0.5
ACTION_SHARE = 0.75


@dataclass
class Tally:
    """What a tick did; updated from worker threads, so only through :meth:`add`."""

    polled: int = 0
    finished: int = 0
    decided: Counter[str] = field(default_factory=Counter)
    drained: int = 0
    expired: int = 0
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
            "expired": self.expired,
            "purged": self.purged,
            "pending": pending,
            "failures": self.failures,
            "stopped_early": self.stopped_early,
        }


class Poller:
    def __init__(
        self,
        *,
        elb: ElbClient,
        autoscaling: AutoScalingClient,
        repo: StateRepository,
        membership: Membership,
        deadline: Deadline,
        clock: Callable[[], datetime],
        concurrency: int = 8,
    ) -> None:
        self.elb = elb
        self.autoscaling = autoscaling
        self.repo = repo
        self.membership = membership
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
        action_budget = Deadline.after(self.deadline.remaining() * ACTION_SHARE)
        actions, action_ids = self._load_pending(LifecycleAction, action_budget)
        decided = self._decide_actions(actions, open_jobs, open_ids, action_budget)
        drains, drain_ids = self._load_pending(Drain)
        deleted = self._finish_drains(drains)
        if expire and self._has_time():
            report = self.repo.expire(deadline=self.deadline)
            self.tally.add("purged", report.deleted)
        pending = {
            "check_jobs": len(open_ids),
            "lifecycle_actions": len(action_ids) - decided,
            "drains": len(drain_ids) - deleted,
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
            except TransitionRefused as exc:
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
        notes: list[tuple[str, tuple[CheckFinding, ...]]] = []

        def poll(job: CheckJob) -> None:
            outcome = self._poll_job(job)
            if outcome is not None:
                finished.add(job.job_id)
                if outcome and job.lifecycle_action_id:
                    notes.append((job.lifecycle_action_id, outcome))

        self._parallel(poll, due, budget, kind="check_job", name=lambda j: j.job_id)
        self._parallel(
            lambda note: self._note_findings(*note),
            notes,
            None,
            kind="lifecycle_action",
            name=lambda note: note[0],
        )
        return finished

    def _poll_job(self, job: CheckJob) -> tuple[CheckFinding, ...] | None:
        """Advance one job; returns its findings once it is finished, ``None`` while it waits."""
        now = self.clock()
        if job.poll_until is not None and now >= job.poll_until:
            self.repo.update(job.model_copy(update={"status": "expired"}))
            self.tally.add("expired", 1)
            _log.error("check_job_expired", job_id=job.job_id, member_id=job.member_id)
            return ()
        try:
            remote = self.elb.show_check_job(job.job_id)
        except NotFoundError:
            return self._retry_or_fail(job, "ELB no longer knows the job")
        self.tally.add("polled", 1)
        if remote.status == "processing":
            wait = min(30, 5 * (job.attempts + 1))
            self.repo.update(
                job.model_copy(
                    update={
                        "status": "processing",
                        "attempts": job.attempts + 1,
                        "next_poll_at": now + timedelta(seconds=wait),
                    }
                )
            )
            return None
        if remote.status == "failed":
            return self._retry_or_fail(job, "ELB reported the check job failed")
        found = rendered_findings(remote)
        passed = not any(f.severity == "Major" for f in found)
        self.repo.update(
            job.model_copy(update={"status": "processed", "passed": passed, "findings": found})
        )
        self.tally.add("finished", 1)
        if not passed:
            _log.error(
                "check_job_found_problems",
                job_id=job.job_id,
                member_id=job.member_id,
                listener_id=job.listener_id,
                reasons=[f.reason for f in found if f.severity == "Major"],
            )
        return found

    def _retry_or_fail(self, job: CheckJob, why: str) -> tuple[CheckFinding, ...]:
        """Record the job as failed and start it again, a bounded number of times."""
        self.repo.update(job.model_copy(update={"status": "failed"}))
        self.tally.add("finished", 1)
        if job.retries >= MAX_CHECK_RETRIES:
            _log.error("check_job_failed", job_id=job.job_id, member_id=job.member_id, reason=why)
            return ()
        try:
            new_id = self.elb.create_check_job(job.member_id, job.listener_id, job.subject)
        except ApiError as exc:
            _log.error("check_job_failed", job_id=job.job_id, reason=why, retry=exc.to_dict())
            return ()
        retry = job.model_copy(
            update={
                "job_id": new_id,
                "status": "pending",
                "attempts": 0,
                "retries": job.retries + 1,
                "revision": 0,
                "next_poll_at": self.clock() + timedelta(seconds=5),
            }
        )
        self.repo.add(retry)
        _log.warning("check_job_retried", job_id=job.job_id, new_job_id=new_id, reason=why)
        return ()

    def _note_findings(self, action_key: str, found: tuple[CheckFinding, ...]) -> None:
        """Keep a finished job's Major findings on the lifecycle action that waits on it."""
        major = tuple(f for f in found if f.severity == "Major")
        if not major:
            return
        action = self.repo.load(LifecycleAction, action_key)
        if action is None or action.terminal:
            return
        merged = tuple(dict.fromkeys(action.findings + major))
        self.repo.update(action.model_copy(update={"findings": merged}))

    # -- lifecycle actions -------------------------------------------------------------------

    def _decide_actions(
        self,
        actions: list[LifecycleAction],
        open_jobs: list[CheckJob],
        open_ids: set[str],
        budget: Deadline,
    ) -> int:
        """Decide what can be decided; returns how many actions no longer wait."""
        waiting_on: dict[str, int] = Counter(
            j.lifecycle_action_id for j in open_jobs if j.lifecycle_action_id
        )
        for action in actions:  # jobs not read this tick still count, by id
            unread = [i for i in action.check_job_ids if i in open_ids]
            waiting_on[action.action_key] = max(waiting_on.get(action.action_key, 0), len(unread))
        ordered = sorted(actions, key=lambda a: min(a.health_deadline, a.hook_deadline))
        decided: set[str] = set()

        def decide(action: LifecycleAction) -> None:
            if self._decide(action, waiting_on.get(action.action_key, 0)):
                decided.add(action.action_key)

        self._parallel(
            decide, ordered, budget, kind="lifecycle_action", name=lambda a: a.action_key
        )
        return len(decided)

    def _decide(self, action: LifecycleAction, open_checks: int) -> bool:
        """Move one action on; ``True`` when it no longer waits."""
        now = self.clock()
        if now >= action.hook_deadline:
            reason = "the hook's deadline passed; Auto Scaling applied its default result"
            self._finish_action(action, "expired", None, reason)
            self.tally.add("expired", 1)
            _log.error(
                "lifecycle_hook_deadline_passed",
                action_key=action.action_key,
                instance_id=action.instance_id,
            )
            return True
        if action.status == "completing" and action.decision is not None:
            return self._callback(action, action.decision, action.reason or "")
        findings = self._findings(action)
        major = [f for f in findings if f.severity == "Major"]
        if major:
            reason = "check found: " + "; ".join(f.reason for f in major)
            return self._apply_policy(action, reason)
        unhealthy = self._unhealthy(action)
        if not unhealthy and open_checks == 0:
            return self._callback(action, "CONTINUE", "every member is healthy on every listener")
        if now >= action.health_deadline:
            detail = ", ".join(unhealthy) or f"{open_checks} check job(s) still running"
            return self._apply_policy(action, f"not healthy by the health deadline: {detail}")
        if (
            action.hook_deadline < action.health_deadline
            and action.hook_deadline - now <= EXTEND_LEAD
            and action.extensions < action.max_extensions
        ):
            self._extend(action)
        return False

    def _findings(self, action: LifecycleAction) -> list[CheckFinding]:
        found = list(action.findings)
        for job_id in action.check_job_ids:
            job = self.repo.load(CheckJob, job_id)
            if job is not None and job.status == "processed":
                found.extend(f for f in job.findings if f not in found)
        return found

    def _unhealthy(self, action: LifecycleAction) -> list[str]:
        """Members not yet healthy, as ``address:port on listener is STATUS``."""
        by_pool: dict[str, list[str]] = defaultdict(list)
        for waited in action.members:
            if waited.member_id:
                by_pool[waited.pool_id].append(waited.member_id)
        live: dict[str, Member] = {}
        for pool_id, ids in by_pool.items():
            for member in self.elb.list_members(pool_id, id=ids):
                live[member.id] = member
        problems = []
        for waited in action.members:
            where = f"{waited.address}:{waited.protocol_port}"
            found = live.get(waited.member_id or "")
            if found is None:
                problems.append(f"{where} is no longer a member of pool {waited.pool_id}")
                continue
            for listener in waited.listener_ids or (None,):
                status = found.status_on(listener) if listener else found.operating_status
                if status not in HEALTHY:
                    problems.append(f"{where} on listener {listener or '(any)'} is {status}")
        return problems

    def _apply_policy(self, action: LifecycleAction, reason: str) -> bool:
        decision: LifecycleResult = "ABANDON" if action.policy == "abandon" else "CONTINUE"
        event = "lifecycle_abandoned" if decision == "ABANDON" else "lifecycle_continued_unhealthy"
        _log.error(
            event, action_key=action.action_key, instance_id=action.instance_id, reason=reason
        )
        return self._callback(action, decision, reason)

    def _callback(self, action: LifecycleAction, decision: LifecycleResult, reason: str) -> bool:
        """Record the decision first, then tell Auto Scaling; a refusal is recorded, not retried."""
        if action.status != "completing":
            action = self.repo.update(
                action.model_copy(
                    update={"status": "completing", "decision": decision, "reason": reason}
                )
            )
        try:
            self.autoscaling.complete_lifecycle_action(
                action.scaling_group_id, decision, action_key=action.action_key
            )
        except ApiError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise
            _log.error(
                "lifecycle_callback_refused",
                action_key=action.action_key,
                decision=decision,
                error=exc.to_dict(),
            )
            self._finish_action(action, "failed", decision, f"{reason}; callback refused: {exc}")
            return True
        self.tally.decide(decision)
        self._finish_action(action, "completed", decision, reason)
        self._audit(
            f"lifecycle_{decision.lower()}",
            action.action_key,
            {"instance_id": action.instance_id, "reason": reason},
        )
        return True

    def _extend(self, action: LifecycleAction) -> None:
        self.autoscaling.complete_lifecycle_action(
            action.scaling_group_id, "EXTEND", action_key=action.action_key
        )
        self.repo.update(
            action.model_copy(
                update={
                    "hook_deadline": action.hook_deadline + EXTEND_BY,
                    "extensions": action.extensions + 1,
                }
            )
        )
        self.tally.decide("EXTEND")
        _log.warning(
            "lifecycle_extended", action_key=action.action_key, extensions=action.extensions + 1
        )

    def _finish_action(
        self, action: LifecycleAction, status: str, decision: LifecycleResult | None, reason: str
    ) -> None:
        update: dict[str, object] = {"status": status, "reason": reason}
        if decision in ("CONTINUE", "ABANDON"):
            update["decision"] = decision
        self.repo.update(action.model_copy(update=update))

    # -- drains ------------------------------------------------------------------------------

    def _finish_drains(self, drains: list[Drain]) -> int:
        """Delete the drained members that are due; returns how many drains are done."""
        now = self.clock()
        due = sorted((d for d in drains if d.delete_after <= now), key=lambda d: d.delete_after)
        done: set[str] = set()

        def finish(drain: Drain) -> None:
            if self._finish_drain(drain):
                done.add(drain.drain_id)

        self._parallel(finish, due, None, kind="drain", name=lambda d: d.drain_id)
        return len(done)

    def _finish_drain(self, drain: Drain) -> bool:
        if self.clock() - drain.delete_after > DRAIN_GIVE_UP:
            self.repo.update(drain.model_copy(update={"status": "expired", "reason": "gave up"}))
            self.tally.add("expired", 1)
            _log.error("drain_expired", drain_id=drain.drain_id)
            return True
        if drain.status == "draining":
            drain = self.repo.update(drain.model_copy(update={"status": "deleting"}))
        writes = []
        for pool_id in drain.pool_ids:
            targets = [t for t in drain.targets if t.pool_id == pool_id]
            changes = tuple(
                Change(
                    "delete",
                    MemberRef(id=t.member_id),
                    address=t.address,
                    protocol_port=t.protocol_port,
                )
                for t in targets
            )
            writes.append(PoolWrite(pool_id, f"pool:{pool_id}", changes))
        outcomes = self.membership.apply(writes, cause=f"drain {drain.drain_id}")
        failed = [o for o in outcomes if o.result == "failed"]
        if failed:
            self.tally.add("failures", len(failed))
            _log.error(
                "drain_delete_failed", drain_id=drain.drain_id, failed=[o.to_dict() for o in failed]
            )
            return False
        self.tally.add("drained", len(outcomes))
        ref = drain.then_complete
        reason = f"deleted {len(outcomes)} drained member(s)"
        if ref is not None:
            try:
                self.autoscaling.complete_lifecycle_action(
                    ref.scaling_group_id, ref.result, action_key=ref.action_key
                )
                self.tally.decide(ref.result)
            except ApiError as exc:
                if exc.status >= 500 or exc.status == 429:
                    raise
                _log.error(
                    "lifecycle_callback_refused", action_key=ref.action_key, error=exc.to_dict()
                )
                reason += f"; callback refused: {exc}"
        self.repo.update(
            drain.model_copy(
                update={
                    "status": "deleted",
                    "reason": reason,
                    "deleted_member_ids": tuple(str(o.member_id) for o in outcomes if o.member_id),
                }
            )
        )
        return True

    def _audit(self, action: str, subject: str, details: dict[str, object]) -> None:
        self.repo.append_audit(
            AuditEntry(
                action=action,
                subject=subject,
                actor="check_poller",
                request_id=self.membership.request_id,
                details={k: str(v) for k, v in details.items()},
            )
        )


def timer_options(event: Mapping[str, object]) -> dict[str, object]:
    """Options a TIMER trigger may carry as JSON text in ``user_event``: ``{"expire": true}``."""
    text = event.get("user_event")
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"is not JSON ({exc.msg})", field="user_event") from exc
    return options if isinstance(options, dict) else {}


def handle(invocation: Invocation, event: Mapping[str, object]) -> dict[str, object]:
    """The work of the check_poller function: one tick."""
    options = timer_options(event)
    elb = invocation.elb()
    repo = StateRepository(invocation.store(), clock=invocation.clock)
    membership = Membership(
        elb,
        repo,
        actor=invocation.function_name,
        request_id=invocation.request_id,
        clock=invocation.clock,
    )
    poller = Poller(
        elb=elb,
        autoscaling=invocation.autoscaling(),
        repo=repo,
        membership=membership,
        deadline=invocation.deadline,
        clock=invocation.clock,
        concurrency=invocation.settings.poll_concurrency,
    )
    hourly = invocation.clock().minute == 0
    return poller.tick(expire=bool(options.get("expire")) or hourly)
