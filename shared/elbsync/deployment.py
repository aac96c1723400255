"""Deployment events: register, deregister, re-weight, and declare the members of a pool.

Each reads the pool's actual members once, lets the pure planner decide, and applies the plan
through :class:`~elbsync.membership.Membership`. A desired-state dry run returns the plan and
changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from elbsync.bindings import BindingDocument
from elbsync.elb import Member, MemberUpdate, NewMember
from elbsync.executor import Change, MemberOutcome, PoolWrite
from elbsync.inbound.deployments import Deregister, Desired, MemberSpec, Register, SetWeights
from elbsync.membership import Membership, PoolTarget, counts
from elbsync.planner import (
    Guards,
    Plan,
    owned_name,
    plan_desired,
    plan_register,
    plan_removal,
    plan_weights,
)

DeploymentEvent = Register | Deregister | SetWeights | Desired
#: How long check jobs started for registered members are polled before they expire.
CHECK_WINDOW = timedelta(minutes=10)


class Deployment:
    def __init__(
        self,
        membership: Membership,
        bindings: BindingDocument | None,
        *,
        max_remove_share: float,
    ) -> None:
        self.membership = membership
        self.bindings = bindings
        self.max_remove_share = max_remove_share

    def handle(self, event: DeploymentEvent, *, cause: str) -> dict[str, object]:
        actual = self.membership.elb.list_members(event.pool_id)
        if isinstance(event, Register):
            plan = plan_register(event.members, actual)
            drain = 0
        elif isinstance(event, SetWeights):
            plan = plan_weights(event.weights, actual)
            drain = 0
        elif isinstance(event, Deregister):
            guards = Guards(adopt=event.adopt, max_remove_share=self.max_remove_share)
            plan = plan_removal(event.members, actual, guards)
            drain = event.drain_seconds
        else:
            guards = Guards(
                adopt=event.adopt,
                force=event.force,
                max_remove_share=event.max_remove_share or self.max_remove_share,
            )
            plan = plan_desired(event.members, actual, guards)
            drain = event.drain_seconds
            if event.dry_run:
                return {"pool_id": event.pool_id, "dry_run": True, "plan": plan.summary()}
        outcomes = self._apply(event, plan, drain, cause=cause)
        reply: dict[str, object] = {
            "pool_id": event.pool_id,
            "members": [o.to_dict() for o in outcomes] + _unchanged(event.pool_id, plan),
            "counts": counts(outcomes),
        }
        if isinstance(event, Register) and event.listener_ids:
            pairs = [
                (event.pool_id, str(o.member_id), listener)
                for o in outcomes
                if o.result in ("added", "existed") and o.member_id
                for listener in event.listener_ids
            ]
            pairs += [
                (event.pool_id, m.id, listener)
                for m in plan.keep
                for listener in event.listener_ids
            ]
            job_ids, failures = self.membership.start_checks(
                pairs, until=self.membership.clock() + CHECK_WINDOW
            )
            reply["check_jobs"] = job_ids
            reply["check_job_failures"] = failures
        return reply

    def _target(self, event: DeploymentEvent, drain_seconds: int) -> PoolTarget:
        bound = self.bindings.pool(event.pool_id) if self.bindings else None
        balancer = event.load_balancer_id or (bound.load_balancer_id if bound else None)
        return PoolTarget(
            pool_id=event.pool_id,
            serialisation_key=balancer or f"pool:{event.pool_id}",
            honours_weights=bound.honours_weights if bound else True,
            drain_seconds=drain_seconds,
        )

    def _apply(
        self, event: DeploymentEvent, plan: Plan, drain_seconds: int, *, cause: str
    ) -> list[MemberOutcome]:
        target = self._target(event, drain_seconds)
        changes = [_add(spec) for spec in plan.add] + [
            Change(
                "update",
                MemberUpdate(id=r.member.id, weight=r.weight),
                address=r.member.address,
                protocol_port=r.member.protocol_port,
                label="reweighted",
            )
            for r in plan.reweight
        ]
        outcomes = self.membership.apply(
            [PoolWrite(target.pool_id, target.serialisation_key, tuple(changes))], cause=cause
        )
        if plan.remove:
            retired = self.membership.retire([(target, list(plan.remove))], cause=cause)
            outcomes += retired.outcomes
        return outcomes


def _add(spec: MemberSpec) -> Change:
    member = NewMember(
        address=spec.address,
        protocol_port=spec.protocol_port,
        subnet_cidr_id=spec.subnet_cidr_id,
        weight=spec.weight,
        name=owned_name(spec.name or f"{spec.address}:{spec.protocol_port}"),
    )
    return Change("add", member, address=spec.address, protocol_port=spec.protocol_port)


def _unchanged(pool_id: str, plan: Plan) -> list[dict[str, object]]:
    """Members the event named that needed nothing, were refused, or were not in the pool."""
    rows: list[dict[str, object]] = [_row(pool_id, m, "unchanged") for m in plan.keep]
    rows += [{**_row(pool_id, r.member, "refused"), "reason": r.reason} for r in plan.refused]
    rows += [
        {
            "pool_id": pool_id,
            "result": "not_found",
            "address": e.address,
            "protocol_port": e.protocol_port,
            "member_id": None,
        }
        for e in plan.missing
    ]
    return rows


def _row(pool_id: str, member: Member, result: str) -> dict[str, object]:
    return {
        "pool_id": pool_id,
        "result": result,
        "address": member.address,
        "protocol_port": member.protocol_port,
        "member_id": member.id,
        "weight": member.weight,
    }
