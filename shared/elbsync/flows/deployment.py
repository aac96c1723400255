"""Deployment events: register, deregister, re-weight, and declare the members of a pool.

Each reads the members it names (from the state store when the event names them by
``members_key``: :mod:`elbsync.inbound.member_lists`) and the pool's actual members once, lets
the pure planner decide, and queues the plan through the write path (removals that drain go
through a :class:`~elbsync.state.records.Drain`).
A desired-state dry run returns the plan and changes nothing. Replaying an event finds the
intents it queued and never plans its changes twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, cast

from pydantic import JsonValue

from elbsync.clients.elb import Member
from elbsync.deadline import Deadline
from elbsync.errors import InputError
from elbsync.flows.replies import DeploymentResult, DryRunResult, MemberRow
from elbsync.inbound.bindings import BindingDocument
from elbsync.inbound.deployments import Deregister, Desired, MemberSpec, Register, SetWeights
from elbsync.inbound.member_lists import endpoints_of, members_of
from elbsync.members.membership import Membership
from elbsync.members.planner import (
    Guards,
    Plan,
    owned_name,
    plan_desired,
    plan_register,
    plan_removal,
    plan_weights,
)
from elbsync.members.writes import PoolWrite, intent_id, intent_record_id, queue_of
from elbsync.state.records import CheckSpec, Drain, DrainTarget, MemberChange

__all__ = [
    "CHECK_WINDOW",
    "MAX_CHECK_JOBS_BY_REFERENCE",
    "Deployment",
    "DeploymentEvent",
    "Outcome",
    "outcome",
]

DeploymentEvent = Register | Deregister | SetWeights | Desired
Outcome = Literal["planned", "queued", "refused", "applied"]
#: How long check jobs started for registered members are polled before they expire.
CHECK_WINDOW = timedelta(minutes=10)
#: Member check jobs (members times listeners) a register event with a list by reference may ask
#: for: they are started one by one once its adds are applied, so thousands would outlast the
#: invocation that applies them.
MAX_CHECK_JOBS_BY_REFERENCE = 1000


class Deployment:
    def __init__(
        self,
        membership: Membership,
        bindings: BindingDocument | None,
        *,
        max_remove_share: float,
        budget: Deadline | None = None,
    ) -> None:
        """``budget``: when to stop sending writes and leave the rest queued (an HTTP
        request's synchronous time); the invocation's deadline by default."""
        self.membership = membership
        self.budget = budget
        self.bindings = bindings
        self.max_remove_share = max_remove_share
        self.drains = membership.drains(None)

    def handle(
        self, event: DeploymentEvent, *, cause: str, key: str
    ) -> DeploymentResult | DryRunResult:
        """Plan and queue ``event``; ``key`` names it (the same key finds what it queued)."""
        plan, drain = self._plan(event)
        if isinstance(event, Desired) and event.dry_run:
            return DryRunResult(
                pool_id=event.pool_id, plan=cast(dict[str, JsonValue], plan.summary())
            )
        queue, honours_weights = self._queue(event)
        drains = honours_weights and drain > 0
        changes = [_add(spec) for spec in plan.add] + [
            MemberChange(
                op="update",
                member_id=r.member.id,
                address=r.member.address,
                protocol_port=r.member.protocol_port,
                weight=r.weight,
                label="reweighted",
            )
            for r in plan.reweight
        ]
        if not drains:
            changes += [_delete(m) for m in plan.remove]
        writes = [PoolWrite(event.pool_id, queue, tuple(changes))]
        checks = None
        if isinstance(event, Register) and event.listener_ids:
            checks = CheckSpec(
                listeners={event.pool_id: tuple(event.listener_ids)},
                until=self.membership.clock() + CHECK_WINDOW,
            )
        writes_path = self.membership.writes
        repo = self.membership.repo
        # A redelivery finds what the first delivery queued and never plans it twice.
        record_id = intent_record_id(key, queue)
        drain_id = f"deploy-{intent_id(key, 'drain')}"
        if writes_path.current([record_id]):
            record_ids = [record_id]
        else:
            record_ids = writes_path.enqueue(key, writes, cause=cause, checks=checks)
        drain_record = repo.load(Drain, drain_id)
        if drain_record is None and drains and plan.remove:
            drain_record = self.drains.start(
                drain_id,
                [_target(event.pool_id, queue, m, drain) for m in plan.remove],
                cause=cause,
            )
        writes_path.flush([queue], budget=self.budget)
        outcomes, done, complete = self.membership.outcomes(record_ids)
        if drain_record is not None:
            drained = self.drains.outcomes(drain_record)
            if drained is None:
                complete = False
                drained = [_queued(event.pool_id, t) for t in drain_record.targets]
            outcomes += drained
        jobs = tuple(job for intent in done for job in intent.check_job_ids)
        return DeploymentResult(
            queued=not complete,
            pool_id=event.pool_id,
            members=tuple(outcomes),
            named=tuple(_unchanged(event.pool_id, plan, outcomes)),
            check_jobs=jobs if checks is not None else None,
            absent_is_done=isinstance(event, Deregister),
        )

    def _plan(self, event: DeploymentEvent) -> tuple[Plan, int]:
        """The plan, and the drain time of its removals. A member list named by reference is
        read (and refused when it is not one) before the pool is."""
        store, deadline = self.membership.repo.store, self.membership.deadline
        if isinstance(event, SetWeights):
            return plan_weights(event.weights, self._actual(event)), 0
        if isinstance(event, Register):
            members = members_of(event, store, deadline=deadline)
            _check_jobs_bounded(event, len(members))
            return plan_register(members, self._actual(event)), 0
        if isinstance(event, Deregister):
            endpoints = endpoints_of(event, store, deadline=deadline)
            guards = Guards(adopt=event.adopt, max_remove_share=self.max_remove_share)
            return plan_removal(endpoints, self._actual(event), guards), event.drain_seconds
        members = members_of(event, store, deadline=deadline)
        guards = Guards(
            adopt=event.adopt,
            force=event.force,
            max_remove_share=event.max_remove_share or self.max_remove_share,
        )
        return plan_desired(members, self._actual(event), guards), event.drain_seconds

    def _actual(self, event: DeploymentEvent) -> list[Member]:
        return self.membership.elb.list_members(event.pool_id)

    def _queue(self, event: DeploymentEvent) -> tuple[str, bool]:
        bound = self.bindings.pool(event.pool_id) if self.bindings else None
        balancer = event.load_balancer_id or (bound.load_balancer_id if bound else None)
        return queue_of(balancer, event.pool_id), bound.honours_weights if bound else True


def outcome(result: DeploymentResult | DryRunResult) -> Outcome:
    """What became of a deployment change, as member_events and http_api both answer it."""
    if isinstance(result, DryRunResult):
        return "planned"
    if result.queued:
        return "queued"
    return "refused" if result.nothing_done else "applied"


def _check_jobs_bounded(event: Register, members: int) -> None:
    jobs = members * len(event.listener_ids)
    if event.members_key is not None and jobs > MAX_CHECK_JOBS_BY_REFERENCE:
        raise InputError(
            f"would start {jobs} member check jobs ({members} members, "
            f"{len(event.listener_ids)} listeners); a list by reference may ask for at most "
            f"{MAX_CHECK_JOBS_BY_REFERENCE}: leave listener_ids out, or check a shorter list",
            field="listener_ids",
        )


def _add(spec: MemberSpec) -> MemberChange:
    return MemberChange(
        op="add",
        address=spec.address,
        protocol_port=spec.protocol_port,
        subnet_cidr_id=spec.subnet_cidr_id,
        weight=spec.weight,
        name=owned_name(spec.name or f"{spec.address}:{spec.protocol_port}"),
    )


def _delete(member: Member) -> MemberChange:
    return MemberChange(
        op="delete", member_id=member.id, address=member.address, protocol_port=member.protocol_port
    )


def _target(pool_id: str, queue: str, member: Member, drain_seconds: int) -> DrainTarget:
    return DrainTarget(
        pool_id=pool_id,
        member_id=member.id,
        address=member.address,
        protocol_port=member.protocol_port,
        queue=queue,
        drain_seconds=drain_seconds,
    )


def _queued(pool_id: str, target: DrainTarget) -> MemberRow:
    return MemberRow(
        pool_id=pool_id,
        result="queued",
        address=target.address,
        protocol_port=target.protocol_port,
        member_id=target.member_id,
    )


def _unchanged(pool_id: str, plan: Plan, outcomes: list[MemberRow]) -> list[MemberRow]:
    """Members the event named that needed nothing, were refused, or were not in the pool
    (except those a change of this event is about, when a replay plans again)."""
    changed = {o.key for o in outcomes}
    rows = [_row(pool_id, m, "unchanged") for m in plan.keep if m.key not in changed]
    rows += [
        _row(pool_id, r.member, "refused").model_copy(update={"reason": r.reason})
        for r in plan.refused
    ]
    rows += [
        MemberRow(
            pool_id=pool_id, result="not_found", address=e.address, protocol_port=e.protocol_port
        )
        for e in plan.missing
    ]
    return rows


def _row(pool_id: str, member: Member, result: str) -> MemberRow:
    return MemberRow(
        pool_id=pool_id,
        result=result,
        address=member.address,
        protocol_port=member.protocol_port,
        member_id=member.id,
        weight=member.weight,
    )
