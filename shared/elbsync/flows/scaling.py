"""Auto Scaling lifecycle events: a launching instance joins its pools and waits for health,
a terminating one is drained and removed before Auto Scaling may go on.

The handler never waits and never decides on a launch: it records the
:class:`~elbsync.state.records.LifecycleAction` (or the :class:`~elbsync.state.records.Drain`),
queues the member changes through the write path, sends them if it gets the balancer's lease,
and returns. The poller decides once the members are in and healthy. Replaying an event finds
what is recorded and queues nothing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

import structlog

from elbsync.clients.autoscaling import AutoScalingClient, LifecycleResult
from elbsync.clients.ecs import EcsClient
from elbsync.errors import ApiError, InputError, NotFoundError
from elbsync.flows.replies import LifecycleStatus, ScalingResult
from elbsync.inbound.bindings import Binding
from elbsync.inbound.lifecycle import LifecycleNotification
from elbsync.members.membership import Membership
from elbsync.members.planner import owned_name
from elbsync.members.writes import PoolWrite, queue_of, queue_of_record
from elbsync.state.errors import TransitionRefusedError
from elbsync.state.records import (
    CheckSpec,
    Drain,
    DrainTarget,
    LifecycleAction,
    LifecycleActionRef,
    MemberChange,
    WaitedMember,
)
from elbsync.waits.lifecycle import call_back, holds, launch_intent_key

__all__ = ["DEFAULT_HOOK_TIMEOUT", "Located", "Scaling", "member_name"]

_log = structlog.get_logger("elbsync.flows.scaling")

#: Auto Scaling's default hook timeout, used when the hanging-instance list gives none.
DEFAULT_HOOK_TIMEOUT = timedelta(seconds=3600)


@dataclass(frozen=True)
class Located:
    address: str
    subnet_id: str | None


def member_name(instance_id: str) -> str:
    return owned_name(f"as:{instance_id}")


class Scaling:
    def __init__(
        self, membership: Membership, autoscaling: AutoScalingClient, ecs: EcsClient
    ) -> None:
        self.membership = membership
        self.autoscaling = autoscaling
        self.ecs = ecs
        self.drains = membership.drains(autoscaling)
        self.actions = membership.lifecycle_actions(autoscaling)

    def handle(self, note: LifecycleNotification, binding: Binding) -> ScalingResult:
        if note.launching:
            return self.launch(note, binding)
        return self.terminate(note, binding)

    # -- launching ---------------------------------------------------------------------------

    def launch(self, note: LifecycleNotification, binding: Binding) -> ScalingResult:
        instance = note.scaling_instance
        needs_subnet = any(pool.subnet_cidr_id is None for pool in binding.pools)
        where = self._locate(note, needs_subnet=needs_subnet)
        writes = [
            PoolWrite(
                pool.pool_id,
                queue_of(pool.load_balancer_id, pool.pool_id),
                (
                    MemberChange(
                        op="add",
                        address=where.address,
                        protocol_port=pool.protocol_port,
                        subnet_cidr_id=pool.subnet_cidr_id or where.subnet_id,
                        weight=pool.weight,
                        name=member_name(instance.instance_id),
                    ),
                ),
            )
            for pool in binding.pools
        ]
        key = launch_intent_key(note.lifecycle_action_key)
        writes_path = self.membership.writes
        now = self.membership.clock()
        gate = binding.health_gate
        health_deadline = now + timedelta(seconds=gate.timeout_seconds)
        hook_deadline, default_result = self._hook(note, now)
        action = self.actions.start(
            LifecycleAction(
                scaling_group_id=note.scaling_group.scaling_group_id,
                action_key=note.lifecycle_action_key,
                instance_id=instance.instance_id,
                hook_name=note.lifecycle_hook_name,
                hook_type=note.lifecycle_hook_type,
                members=tuple(
                    WaitedMember(
                        pool_id=pool.pool_id,
                        address=where.address,
                        protocol_port=pool.protocol_port,
                        listener_ids=tuple(pool.listener_ids),
                        weight=pool.weight,
                        queue=queue_of(pool.load_balancer_id, pool.pool_id),
                    )
                    for pool in binding.pools
                ),
                intent_ids=writes_path.planned_ids(key, writes),
                health_deadline=health_deadline,
                hook_deadline=hook_deadline,
                default_result=default_result,
                policy="abandon" if gate.on_failure == "ABANDON" else "continue",
                max_extensions=gate.max_extends,
                created_at=now,
                updated_at=now,
            )
        )
        if action.status == "joining":
            checks = CheckSpec(
                listeners={p.pool_id: tuple(p.listener_ids) for p in binding.pools},
                until=action.health_deadline,
                lifecycle_action_id=action.action_key,
            )
            writes_path.submit(key, writes, cause=f"launch {instance.instance_id}", checks=checks)
        outcomes, done, complete = self.membership.outcomes(action.intent_ids)
        return ScalingResult(
            queued=not complete,
            instance_id=instance.instance_id,
            address=where.address,
            members=tuple(outcomes),
            check_jobs=tuple(job for intent in done for job in intent.check_job_ids),
            lifecycle=LifecycleStatus(action_key=action.action_key, status=action.status),
        )

    # -- terminating -------------------------------------------------------------------------

    def terminate(self, note: LifecycleNotification, binding: Binding) -> ScalingResult:
        instance = note.scaling_instance
        address = instance.instance_ip or self._address_or_none(instance.instance_id)
        targets: list[DrainTarget] = []
        for pool in binding.pools:
            if address:
                found = self.membership.elb.list_members(
                    pool.pool_id, address=address, protocol_port=pool.protocol_port
                )
            else:  # the instance is gone from ECS: find what elbsync named after it
                found = self.membership.elb.list_members(
                    pool.pool_id, name=member_name(instance.instance_id)
                )
            targets += [
                DrainTarget(
                    pool_id=pool.pool_id,
                    member_id=m.id,
                    address=m.address,
                    protocol_port=m.protocol_port,
                    queue=queue_of(pool.load_balancer_id, pool.pool_id),
                    drain_seconds=pool.drain_seconds if pool.honours_weights else 0,
                )
                for m in found
            ]
        ref = LifecycleActionRef(
            scaling_group_id=note.scaling_group.scaling_group_id,
            action_key=note.lifecycle_action_key,
            instance_id=instance.instance_id,
            hook_name=note.lifecycle_hook_name,
            result="CONTINUE",
        )
        drain_id = "terminate-" + _short(note.lifecycle_action_key)
        if not targets and self.membership.repo.load(Drain, drain_id) is None:
            return ScalingResult(
                instance_id=instance.instance_id,
                address=address,
                lifecycle=self._callback(
                    ref.scaling_group_id,
                    ref.action_key,
                    "CONTINUE",
                    instance.instance_id,
                    note.lifecycle_hook_name,
                ),
            )
        drain = self.drains.start(
            drain_id, targets, cause=f"terminate {instance.instance_id}", then_complete=ref
        )
        self.membership.writes.flush(queue_of_record(r) for r in drain.weight_intents)
        try:
            finished = drain.terminal or self.drains.advance(drain).finished
        except TransitionRefusedError:  # the poller moved the drain on meanwhile: it finishes it
            finished = False
        outcomes = self.drains.outcomes(drain)
        return ScalingResult(
            queued=outcomes is None,
            instance_id=instance.instance_id,
            address=address,
            members=tuple(outcomes or []),
            lifecycle=LifecycleStatus(
                action_key=note.lifecycle_action_key,
                status="completed" if finished else "draining",
                drain_id=drain.drain_id,
            ),
        )

    # -- shared ------------------------------------------------------------------------------

    def _locate(self, note: LifecycleNotification, *, needs_subnet: bool) -> Located:
        instance = note.scaling_instance
        if instance.instance_ip and not needs_subnet:
            return Located(instance.instance_ip, None)
        try:
            interfaces = self.ecs.interfaces(instance.instance_id)
        except NotFoundError as exc:
            raise InputError(
                f"instance {instance.instance_id} does not exist in ECS",
                field="scaling_instance.instance_id",
            ) from exc
        for interface in interfaces:
            ip = interface.ipv4()
            if ip is not None and (
                not instance.instance_ip or ip.ip_address == instance.instance_ip
            ):
                return Located(ip.ip_address, ip.subnet_id)
        raise InputError(
            f"instance {instance.instance_id} has no IPv4 interface to add to the pools",
            field="scaling_instance.instance_id",
        )

    def _address_or_none(self, instance_id: str) -> str | None:
        try:
            interfaces = self.ecs.interfaces(instance_id)
        except ApiError as exc:
            _log.warning("instance_not_found_in_ecs", instance_id=instance_id, status=exc.status)
            return None
        ips = [ip for ip in (i.ipv4() for i in interfaces) if ip is not None]
        return ips[0].ip_address if ips else None

    def _hook(
        self, note: LifecycleNotification, now: datetime
    ) -> tuple[datetime, Literal["CONTINUE", "ABANDON"]]:
        """When Auto Scaling stops waiting, and what it then does, from the hanging-instance
        list; else its defaults (an hour, ABANDON)."""
        try:
            hanging = self.autoscaling.list_hanging_instances(
                note.scaling_group.scaling_group_id, instance_id=note.scaling_instance.instance_id
            )
        except ApiError as exc:
            _log.warning("hook_deadline_unknown", error=exc.to_dict())
            hanging = []
        instance_id = note.scaling_instance.instance_id
        for item in hanging:
            ours = holds(item, note.lifecycle_action_key, instance_id, note.lifecycle_hook_name)
            if ours and item.timeout:
                parsed = _parse_time(item.timeout)
                if parsed is not None:
                    return parsed, "CONTINUE" if item.default_result == "CONTINUE" else "ABANDON"
        return now + DEFAULT_HOOK_TIMEOUT, "ABANDON"

    def _callback(
        self,
        scaling_group_id: str,
        action_key: str,
        result: LifecycleResult,
        instance_id: str,
        hook_name: str,
    ) -> LifecycleStatus:
        answer = call_back(
            self.autoscaling,
            scaling_group_id,
            action_key,
            result,
            instance_id=instance_id,
            hook_name=hook_name,
        )
        if not answer.completed and answer.error is not None:
            error = answer.error.to_json()
            return LifecycleStatus(action_key=action_key, status="refused", error=error)
        return LifecycleStatus(
            action_key=action_key,
            status="completed",
            decision="ABANDON" if result == "ABANDON" else "CONTINUE",
        )


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
