"""Auto Scaling lifecycle events: a launching instance joins its pools and waits for health,
a terminating one is drained and removed before Auto Scaling may go on.

The handler never waits: it records a :class:`LifecycleAction` (launch) or a :class:`Drain`
(terminate) and the poller finishes them. Only when nothing is left to wait for does the
handler complete the lifecycle action itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

from elbsync.autoscaling import AutoScalingClient, LifecycleResult
from elbsync.bindings import Binding, PoolBinding
from elbsync.ecs import EcsClient
from elbsync.elb import Member, NewMember
from elbsync.errors import ApiError, InputError, NotFoundError
from elbsync.executor import Change, MemberOutcome, PoolWrite
from elbsync.inbound.lifecycle import LifecycleNotification
from elbsync.membership import SUCCESS, Membership, PoolTarget, counts
from elbsync.planner import owned_name
from elbsync.state.records import LifecycleAction, LifecycleActionRef, WaitedMember

_log = structlog.get_logger("elbsync.scaling")

#: Auto Scaling's default hook timeout, used when the hanging-instance list gives none.
DEFAULT_HOOK_TIMEOUT = timedelta(seconds=3600)


@dataclass(frozen=True)
class Located:
    address: str
    subnet_id: str | None


def member_name(instance_id: str) -> str:
    return owned_name(f"as:{instance_id}")


def target(pool: PoolBinding) -> PoolTarget:
    return PoolTarget(
        pool_id=pool.pool_id,
        serialisation_key=pool.serialisation_key,
        honours_weights=pool.honours_weights,
        drain_seconds=pool.drain_seconds,
    )


class Scaling:
    def __init__(
        self, membership: Membership, autoscaling: AutoScalingClient, ecs: EcsClient
    ) -> None:
        self.membership = membership
        self.autoscaling = autoscaling
        self.ecs = ecs

    def handle(self, note: LifecycleNotification, binding: Binding) -> dict[str, object]:
        if note.launching:
            return self.launch(note, binding)
        return self.terminate(note, binding)

    # -- launching ---------------------------------------------------------------------------

    def launch(self, note: LifecycleNotification, binding: Binding) -> dict[str, object]:
        instance = note.scaling_instance
        needs_subnet = any(pool.subnet_cidr_id is None for pool in binding.pools)
        where = self._locate(note, needs_subnet=needs_subnet)
        writes = [
            PoolWrite(
                pool.pool_id,
                pool.serialisation_key,
                (
                    Change(
                        "add",
                        NewMember(
                            address=where.address,
                            protocol_port=pool.protocol_port,
                            subnet_cidr_id=pool.subnet_cidr_id or where.subnet_id,
                            weight=pool.weight,
                            name=member_name(instance.instance_id),
                        ),
                        address=where.address,
                        protocol_port=pool.protocol_port,
                    ),
                ),
            )
            for pool in binding.pools
        ]
        outcomes = self.membership.apply(writes, cause=f"launch {instance.instance_id}")
        pools = {pool.pool_id: pool for pool in binding.pools}
        waited = tuple(
            WaitedMember(
                pool_id=o.pool_id,
                member_id=o.member_id,
                address=where.address,
                protocol_port=pools[o.pool_id].protocol_port,
                listener_ids=tuple(pools[o.pool_id].listener_ids),
                weight=pools[o.pool_id].weight,
            )
            for o in outcomes
            if o.result in SUCCESS and o.member_id
        )
        now = self.membership.clock()
        gate = binding.health_gate
        health_deadline = now + timedelta(seconds=gate.timeout_seconds)
        job_ids, check_failures = self.membership.start_checks(
            [
                (m.pool_id, str(m.member_id), listener)
                for m in waited
                for listener in m.listener_ids
            ],
            until=health_deadline,
            lifecycle_action_id=note.lifecycle_action_key,
        )
        action = LifecycleAction(
            scaling_group_id=note.scaling_group.scaling_group_id,
            action_key=note.lifecycle_action_key,
            instance_id=instance.instance_id,
            hook_name=note.lifecycle_hook_name,
            hook_type=note.lifecycle_hook_type,
            members=waited,
            check_job_ids=tuple(job_ids),
            health_deadline=health_deadline,
            hook_deadline=self._hook_deadline(note, now),
            policy="abandon" if gate.on_failure == "ABANDON" else "continue",
            max_extensions=gate.max_extends,
        )
        failed = [o for o in outcomes if o.result == "failed"]
        if failed:
            decision: LifecycleResult = gate.on_failure
            reason = f"{len(failed)} of {len(outcomes)} pool memberships could not be added"
            _log.error(
                "lifecycle_members_failed",
                instance_id=instance.instance_id,
                decision=decision,
                failed=[o.to_dict() for o in failed],
            )
            lifecycle = self._complete_now(action, decision, reason)
        else:
            stored = self.membership.repo.add(action)
            lifecycle = {"action_key": stored.action_key, "status": stored.status}
        return {
            "instance_id": instance.instance_id,
            "address": where.address,
            "members": [o.to_dict() for o in outcomes],
            "counts": counts(outcomes),
            "check_jobs": job_ids,
            "check_job_failures": check_failures,
            "lifecycle": lifecycle,
        }

    # -- terminating -------------------------------------------------------------------------

    def terminate(self, note: LifecycleNotification, binding: Binding) -> dict[str, object]:
        instance = note.scaling_instance
        address = instance.instance_ip or self._address_or_none(instance.instance_id)
        groups: list[tuple[PoolTarget, Sequence[Member]]] = []
        for pool in binding.pools:
            if address:
                found = self.membership.elb.list_members(
                    pool.pool_id, address=address, protocol_port=pool.protocol_port
                )
            else:  # the instance is gone from ECS: find what elbsync named after it
                found = self.membership.elb.list_members(
                    pool.pool_id, name=member_name(instance.instance_id)
                )
            groups.append((target(pool), found))
        ref = LifecycleActionRef(
            scaling_group_id=note.scaling_group.scaling_group_id,
            action_key=note.lifecycle_action_key,
            instance_id=instance.instance_id,
            hook_name=note.lifecycle_hook_name,
            result="CONTINUE",
        )
        retired = self.membership.retire(
            groups,
            cause=f"terminate {instance.instance_id}",
            then_complete=ref,
            drain_id="terminate-" + _short(note.lifecycle_action_key),
        )
        if retired.waiting:
            lifecycle: dict[str, object] = {
                "action_key": note.lifecycle_action_key,
                "status": "draining",
                "drain_id": retired.drain_id,
            }
        else:
            lifecycle = self._callback(ref.scaling_group_id, ref.action_key, "CONTINUE")
        outcomes: list[MemberOutcome] = retired.outcomes
        return {
            "instance_id": instance.instance_id,
            "address": address,
            "members": [o.to_dict() for o in outcomes],
            "counts": counts(outcomes),
            "lifecycle": lifecycle,
        }

    # -- shared ------------------------------------------------------------------------------

    def _locate(self, note: LifecycleNotification, *, needs_subnet: bool) -> Located:
        instance = note.scaling_instance
        if instance.instance_ip and not needs_subnet:
            return Located(instance.instance_ip, None)
        try:
            interfaces = self.ecs.interfaces(instance.instance_id)
        except NotFoundError as exc:
            raise InputError(
                f"instance {instance.instance_id} does not exist in ECS", field="scaling_instance"
            ) from exc
        for interface in interfaces:
            ip = interface.ipv4()
            if ip is not None and (
                not instance.instance_ip or ip.ip_address == instance.instance_ip
            ):
                return Located(ip.ip_address, ip.subnet_id)
        raise InputError(
            f"instance {instance.instance_id} has no IPv4 interface to add to the pools",
            field="scaling_instance",
        )

    def _address_or_none(self, instance_id: str) -> str | None:
        try:
            interfaces = self.ecs.interfaces(instance_id)
        except ApiError as exc:
            _log.warning("instance_not_found_in_ecs", instance_id=instance_id, status=exc.status)
            return None
        ips = [ip for ip in (i.ipv4() for i in interfaces) if ip is not None]
        return ips[0].ip_address if ips else None

    def _hook_deadline(self, note: LifecycleNotification, now: datetime) -> datetime:
        """When Auto Scaling stops waiting: from the hanging-instance list, else the default."""
        try:
            hanging = self.autoscaling.list_hanging_instances(
                note.scaling_group.scaling_group_id, instance_id=note.scaling_instance.instance_id
            )
        except ApiError as exc:
            _log.warning("hook_deadline_unknown", error=exc.to_dict())
            hanging = []
        for item in hanging:
            if item.lifecycle_action_key in (None, note.lifecycle_action_key) and item.timeout:
                parsed = _parse_time(item.timeout)
                if parsed is not None:
                    return parsed
        return now + DEFAULT_HOOK_TIMEOUT

    def _complete_now(
        self, action: LifecycleAction, decision: LifecycleResult, reason: str
    ) -> dict[str, object]:
        result = self._callback(action.scaling_group_id, action.action_key, decision)
        status = "completed" if result["status"] == "completed" else "failed"
        self.membership.repo.add(
            action.model_copy(
                update={
                    "status": status,
                    "decision": decision if decision != "EXTEND" else None,
                    "reason": reason,
                    "finished_at": self.membership.clock(),
                }
            )
        )
        return {**result, "reason": reason}

    def _callback(
        self, scaling_group_id: str, action_key: str, result: LifecycleResult
    ) -> dict[str, object]:
        try:
            self.autoscaling.complete_lifecycle_action(
                scaling_group_id, result, action_key=action_key
            )
        except ApiError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise
            _log.warning("lifecycle_callback_refused", action_key=action_key, error=exc.to_dict())
            return {"action_key": action_key, "status": "refused", "error": exc.to_dict()}
        _log.info("lifecycle_action_completed", action_key=action_key, decision=result)
        return {"action_key": action_key, "status": "completed", "decision": result}


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
