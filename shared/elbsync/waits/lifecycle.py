"""Auto Scaling lifecycle actions: recorded when an instance launches, advanced by the poller,
completed only once the instance's own members are in and healthy (or the binding's policy
says otherwise).

An action moves ``joining`` (its members' adds wait in the write queue) → ``waiting`` (for
health) → ``completing`` (decision recorded, callback due) → ``completed``. What to do next is
the pure function :func:`decide`; this module gathers the facts, applies the verdict and makes
the callback. An instance that is abandoned leaves none of its members behind: their deletes
are queued before Auto Scaling is told.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog

from elbsync.clients.autoscaling import AutoScalingClient, HangingInstance, LifecycleResult
from elbsync.clients.elb import ElbClient, Member
from elbsync.errors import ApiError, is_transient
from elbsync.members.endpoint import EndpointKey
from elbsync.members.writes import PoolWrite, WritePath, outcomes_of, queue_of
from elbsync.state.records import (
    AuditEntry,
    CheckFinding,
    LifecycleAction,
    MemberChange,
    WaitedMember,
)
from elbsync.state.repository import StateRepository

__all__ = [
    "EXTEND_BY",
    "EXTEND_LEAD",
    "HEALTHY_REASON",
    "SETTLED_REASON",
    "Advanced",
    "Callback",
    "Facts",
    "LifecycleActions",
    "Verb",
    "Verdict",
    "call_back",
    "decide",
    "holds",
    "launch_intent_key",
    "still_hanging",
]

_log = structlog.get_logger("elbsync.lifecycle")

EXTEND_LEAD = timedelta(minutes=3)
EXTEND_BY = timedelta(hours=1)

Verb = Literal["continue", "abandon", "extend", "wait", "expired"]
HEALTHY_REASON = "every member is healthy on every listener"
SETTLED_REASON = "Auto Scaling no longer holds the action (read back after a refused callback)"


@dataclass(frozen=True)
class Facts:
    """What is known of one action at one moment: the input of :func:`decide`."""

    now: datetime
    hook_deadline: datetime
    health_deadline: datetime
    policy: Literal["abandon", "continue"]
    extensions: int = 0
    max_extensions: int = 3
    #: Adds still waiting in the write queue (a transient state, never a reason to give up).
    joining: bool = False
    #: Members ELB refused to add, as ``address:port in pool: error``.
    refused: tuple[str, ...] = ()
    #: Major check findings, rendered.
    findings: tuple[str, ...] = ()
    #: Members not yet healthy, as ``address:port on listener is STATUS``.
    unhealthy: tuple[str, ...] = ()
    open_checks: int = 0


@dataclass(frozen=True)
class Verdict:
    verb: Verb
    reason: str = ""


def decide(facts: Facts) -> Verdict:
    """Continue, abandon, extend, wait, or note that Auto Scaling stopped waiting."""
    if facts.now >= facts.hook_deadline:
        return Verdict("expired", "the hook's deadline passed; Auto Scaling applied its default")
    policy: Verb = "abandon" if facts.policy == "abandon" else "continue"
    if facts.refused:
        return Verdict(policy, "ELB refused to add: " + "; ".join(facts.refused))
    if not facts.joining:
        if facts.findings:
            return Verdict(policy, "check found: " + "; ".join(facts.findings))
        if not facts.unhealthy and facts.open_checks == 0:
            return Verdict("continue", HEALTHY_REASON)
        if facts.now >= facts.health_deadline:
            detail = ", ".join(facts.unhealthy) or f"{facts.open_checks} check job(s) running"
            return Verdict(policy, f"not healthy by the health deadline: {detail}")
    near = facts.hook_deadline - facts.now <= EXTEND_LEAD
    more_needed = facts.joining or facts.hook_deadline <= facts.health_deadline
    if near and more_needed and facts.extensions < facts.max_extensions:
        return Verdict("extend", "the hook's deadline comes before the health gate's")
    return Verdict("wait")


@dataclass(frozen=True)
class Callback:
    """How Auto Scaling took a callback.

    ``completed``: the action no longer hangs. ``settled`` says how we know when the callback
    itself was refused: Auto Scaling no longer holds the action, read back from its
    hanging-instance list. That is what a retry sees after the first call's reply was lost
    (the first call worked), and also what a hook that timed out looks like. Either way the
    action is decided in the cloud, so no record may call it failed. A refusal while the
    action still hangs is a real refusal (``completed`` false, with the error).
    """

    completed: bool
    error: ApiError | None = None
    settled: bool = False


def call_back(
    autoscaling: AutoScalingClient,
    scaling_group_id: str,
    action_key: str,
    result: LifecycleResult,
    *,
    instance_id: str | None = None,
    hook_name: str | None = None,
) -> Callback:
    """Complete (or extend) a lifecycle action: the one place elbsync calls Auto Scaling back.

    A refusal is resolved by reading the hanging-instance list (see :class:`Callback`); a
    transient failure, of the callback or of that read, raises so the caller tries again later.
    """
    try:
        autoscaling.complete_lifecycle_action(scaling_group_id, result, action_key=action_key)
    except ApiError as exc:
        if is_transient(exc):
            raise
        if not still_hanging(autoscaling, scaling_group_id, action_key, instance_id, hook_name):
            _log.warning(
                "lifecycle_callback_settled",
                action_key=action_key,
                decision=result,
                error_code=exc.error_code,
                detail="refused, and Auto Scaling no longer holds the action",
            )
            return Callback(True, exc, settled=True)
        _log.error(
            "lifecycle_callback_refused",
            action_key=action_key,
            decision=result,
            error=exc.to_dict(),
        )
        return Callback(False, exc)
    if result != "EXTEND":
        _log.info("lifecycle_action_completed", action_key=action_key, decision=result)
    return Callback(True)


def still_hanging(
    autoscaling: AutoScalingClient,
    scaling_group_id: str,
    action_key: str,
    instance_id: str | None,
    hook_name: str | None = None,
) -> bool:
    """Whether Auto Scaling still holds the action, by its hanging-instance list.

    An entry without an action key is matched by instance and hook: another team's hook on the
    same instance may still hang after ours is decided. A group Auto Scaling refuses to list
    (it no longer exists, say) holds nothing; a transient failure raises.
    """
    try:
        hanging = autoscaling.list_hanging_instances(scaling_group_id, instance_id=instance_id)
    except ApiError as exc:
        if is_transient(exc):
            raise
        return False
    return any(holds(item, action_key, instance_id, hook_name) for item in hanging)


def holds(
    item: HangingInstance, action_key: str, instance_id: str | None, hook_name: str | None
) -> bool:
    """Whether a hanging-list entry is this action: by its key, or (an entry without one) by
    instance and hook."""
    if item.lifecycle_action_key is not None:
        return item.lifecycle_action_key == action_key
    same_hook = None in (hook_name, item.lifecycle_hook_name) or (
        item.lifecycle_hook_name == hook_name
    )
    return item.instance_id == instance_id and same_hook


@dataclass
class Advanced:
    """What advancing one action did: its verdict, and whether it no longer waits."""

    verdict: Verdict
    finished: bool = False
    queued: list[str] = field(default_factory=list)
    #: The callback was refused and the action found decided already (see :class:`Callback`).
    settled: bool = False


class LifecycleActions:
    def __init__(
        self,
        elb: ElbClient,
        autoscaling: AutoScalingClient,
        repo: StateRepository,
        writes: WritePath,
        *,
        clock: Callable[[], datetime],
        actor: str,
        request_id: str,
    ) -> None:
        self.elb = elb
        self.autoscaling = autoscaling
        self.repo = repo
        self.writes = writes
        self.clock = clock
        self.actor = actor
        self.request_id = request_id

    # -- start -------------------------------------------------------------------------------

    def start(self, action: LifecycleAction) -> LifecycleAction:
        """Record a launching instance's action (before its adds are queued); a replay returns
        the stored one."""
        return self.repo.add(action)

    # -- advance -----------------------------------------------------------------------------

    def advance(
        self,
        action: LifecycleAction,
        *,
        open_checks: int = 0,
        findings: Sequence[CheckFinding] = (),
    ) -> Advanced:
        """Move one action on. Transient failures raise and leave it for the next tick."""
        if action.status == "completing" and action.decision is not None:
            verdict = Verdict(
                "continue" if action.decision == "CONTINUE" else "abandon", action.reason or ""
            )
            return self._complete(action, verdict)
        refused: tuple[str, ...] = ()
        if action.status == "joining":
            action, refused = self._resolve(action)
        major = tuple(dict.fromkeys(f.reason for f in (*action.findings, *findings) if f.blocks))
        joining = action.status == "joining"
        unhealthy: tuple[str, ...] = ()
        if not joining and not refused and not major:
            unhealthy = tuple(self._unhealthy(action))
        facts = Facts(
            now=self.clock(),
            hook_deadline=action.hook_deadline,
            health_deadline=action.health_deadline,
            policy=action.policy,
            extensions=action.extensions,
            max_extensions=action.max_extensions,
            joining=joining,
            refused=refused,
            findings=major,
            unhealthy=unhealthy,
            open_checks=open_checks,
        )
        verdict = decide(facts)
        if verdict.verb == "wait":
            return Advanced(verdict)
        if verdict.verb == "extend":
            return self._extend(action) or Advanced(verdict)
        if verdict.verb == "expired":
            return self._expire(action, verdict.reason, verdict)
        decision: LifecycleResult = "CONTINUE" if verdict.verb == "continue" else "ABANDON"
        if decision == "ABANDON" or verdict.reason != HEALTHY_REASON:
            _log.error(
                "lifecycle_abandoned" if decision == "ABANDON" else "lifecycle_continued_unhealthy",
                action_key=action.action_key,
                instance_id=action.instance_id,
                reason=verdict.reason,
            )
        action = self.repo.update(
            action.model_copy(
                update={"status": "completing", "decision": decision, "reason": verdict.reason}
            )
        )
        return self._complete(action, verdict)

    def _resolve(self, action: LifecycleAction) -> tuple[LifecycleAction, tuple[str, ...]]:
        """Once its adds are applied, the action learns its member ids and check jobs."""
        done = self.writes.results(action.intent_ids)
        if len(done) < len(action.intent_ids):
            return action, ()
        ids: dict[tuple[str, EndpointKey], str] = {}
        refused = []
        job_ids: list[str] = []
        for intent in done.values():
            job_ids.extend(intent.check_job_ids)
            for row in outcomes_of(intent):
                where = f"{row.address}:{row.protocol_port}"
                if row.result == "failed":
                    code = (row.error or {}).get("error_code") or (row.error or {}).get("code")
                    refused.append(f"{where} in pool {row.pool_id}: {code}")
                elif row.member_id:
                    ids[(row.pool_id, row.key)] = row.member_id
        members = tuple(
            m.model_copy(update={"member_id": ids.get((m.pool_id, m.key))}) for m in action.members
        )
        resolved = self.repo.update(
            action.model_copy(
                update={
                    "status": "waiting",
                    "members": members,
                    "check_job_ids": tuple(dict.fromkeys((*action.check_job_ids, *job_ids))),
                }
            )
        )
        return resolved, tuple(refused)

    def _unhealthy(self, action: LifecycleAction) -> list[str]:
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
                if not found.serving_on(listener):
                    status = found.status_on(listener)
                    problems.append(f"{where} on listener {listener or '(any)'} is {status}")
        return problems

    def _complete(self, action: LifecycleAction, verdict: Verdict) -> Advanced:
        """Tell Auto Scaling the recorded decision; for ABANDON, queue the deletes first."""
        decision = action.decision or "ABANDON"
        queued: list[str] = []
        if decision == "ABANDON":
            queued = self._remove_members(action)
        answer = call_back(
            self.autoscaling,
            action.scaling_group_id,
            action.action_key,
            decision,
            instance_id=action.instance_id,
            hook_name=action.hook_name,
        )
        if not answer.completed:
            reason = f"{verdict.reason}; refused: {answer.error}"
            self.repo.update(action.model_copy(update={"status": "failed", "reason": reason}))
            return Advanced(verdict, finished=True, queued=queued)
        update: dict[str, object] = {"status": "completed"}
        if answer.settled:
            update["reason"] = f"{verdict.reason}; {SETTLED_REASON}"
        self.repo.update(action.model_copy(update=update))
        self.repo.append_audit(
            AuditEntry(
                action=f"lifecycle_{decision.lower()}",
                subject=action.action_key,
                actor=self.actor,
                request_id=self.request_id,
                details={"instance_id": action.instance_id, "reason": verdict.reason},
            )
        )
        return Advanced(verdict, finished=True, queued=queued, settled=answer.settled)

    def _remove_members(self, action: LifecycleAction) -> list[str]:
        """Queue the deletes of every member the instance joined (by id, else address)."""
        writes: dict[tuple[str, str], list[MemberChange]] = defaultdict(list)
        for waited in action.members:
            queue = waited.queue or queue_of(None, waited.pool_id)
            writes[(waited.pool_id, queue)].append(_delete(waited))
        pool_writes = [
            PoolWrite(pool_id, queue, tuple(changes))
            for (pool_id, queue), changes in writes.items()
        ]
        return self.writes.enqueue(
            f"abandon\n{action.action_key}",
            pool_writes,
            cause=f"abandon {action.instance_id}",
        )

    def _expire(self, action: LifecycleAction, reason: str, verdict: Verdict) -> Advanced:
        """Auto Scaling applied the hook's default result without us. If that abandons the
        instance, its members go too: nothing of an abandoned instance stays behind."""
        queued: list[str] = []
        if action.default_result == "ABANDON" and action.hook_type == "INSTANCE_LAUNCHING":
            queued = self._remove_members(action)
            reason += "; the default result abandons the instance: its members are removed"
        self.repo.update(action.model_copy(update={"status": "expired", "reason": reason}))
        _log.error(
            "lifecycle_hook_deadline_passed",
            action_key=action.action_key,
            instance_id=action.instance_id,
            default_result=action.default_result,
        )
        return Advanced(verdict, finished=True, queued=queued)

    def _extend(self, action: LifecycleAction) -> Advanced | None:
        """EXTEND the hook; what became of the action if it turned out decided already."""
        answer = call_back(
            self.autoscaling,
            action.scaling_group_id,
            action.action_key,
            "EXTEND",
            instance_id=action.instance_id,
            hook_name=action.hook_name,
        )
        if answer.settled:
            # Nothing left to extend: Auto Scaling decided the action (its hook timed out).
            reason = f"extend refused; {SETTLED_REASON}"
            return self._expire(action, reason, Verdict("expired", reason))
        if not answer.completed:
            return None
        self.repo.update(
            action.model_copy(
                update={
                    "hook_deadline": action.hook_deadline + EXTEND_BY,
                    "extensions": action.extensions + 1,
                }
            )
        )
        _log.warning(
            "lifecycle_extended", action_key=action.action_key, extensions=action.extensions + 1
        )
        return None


def _delete(waited: WaitedMember) -> MemberChange:
    if waited.member_id:
        return MemberChange(
            op="delete",
            member_id=waited.member_id,
            address=waited.address,
            protocol_port=waited.protocol_port,
        )
    return MemberChange(op="delete", address=waited.address, protocol_port=waited.protocol_port)


def launch_intent_key(action_key: str) -> str:
    return f"launch\n{action_key}"
