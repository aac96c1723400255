"""The planner: desired and actual members in, a plan out. Pure: no I/O, no clock.

Members are matched by (address, protocol_port). Every group of the plan is in a stable order
(by address, then port), so the same inputs always give the same plan. Removals pass three
guards: ownership (elbsync removes only members it created unless told to adopt others), blast
radius (no run removes more than a share of the pool) and the last serving member (never left
with none unless forced).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from elbsync.clients.elb import Member
from elbsync.inbound.deployments import Endpoint, MemberSpec, WeightSpec

__all__ = [
    "OWNER_PREFIX",
    "Guards",
    "Plan",
    "Refusal",
    "Reweight",
    "owned",
    "owned_name",
    "plan_desired",
    "plan_register",
    "plan_removal",
    "plan_weights",
]

OWNER_PREFIX = "elbsync:"


def owned(member: Member) -> bool:
    """Whether elbsync created this member (it names what it creates with a fixed prefix)."""
    return member.name.startswith(OWNER_PREFIX)


def owned_name(label: str) -> str:
    return (OWNER_PREFIX + label)[:255]


def _order(members: Iterable[Member]) -> tuple[Member, ...]:
    return tuple(sorted(members, key=lambda m: m.key))


@dataclass(frozen=True)
class Guards:
    adopt: bool = False
    force: bool = False
    max_remove_share: float = 0.5


@dataclass(frozen=True)
class Reweight:
    member: Member
    weight: int


@dataclass(frozen=True)
class Refusal:
    member: Member
    reason: str


@dataclass(frozen=True)
class Plan:
    add: tuple[MemberSpec, ...] = ()
    reweight: tuple[Reweight, ...] = ()
    remove: tuple[Member, ...] = ()
    keep: tuple[Member, ...] = ()
    refused: tuple[Refusal, ...] = ()
    missing: tuple[Endpoint, ...] = field(default=())

    @property
    def changes(self) -> int:
        return len(self.add) + len(self.reweight) + len(self.remove)

    def summary(self) -> dict[str, object]:
        """The plan as plain data, for dry-run replies and logs."""

        def endpoint(item: Member | Endpoint) -> str:
            return f"{item.address}:{item.protocol_port}"

        return {
            "add": [{"member": endpoint(spec), "weight": spec.weight} for spec in self.add],
            "reweight": [
                {"member": endpoint(r.member), "from": r.member.weight, "to": r.weight}
                for r in self.reweight
            ],
            "remove": [endpoint(m) for m in self.remove],
            "keep": [endpoint(m) for m in self.keep],
            "refused": [{"member": endpoint(r.member), "reason": r.reason} for r in self.refused],
            "missing": [endpoint(e) for e in self.missing],
        }


def plan_register(members: Sequence[MemberSpec], actual: Sequence[Member]) -> Plan:
    """Add what is missing; members already present are kept as they are."""
    present = {m.key: m for m in actual}
    add = tuple(sorted((s for s in members if s.key not in present), key=lambda s: s.key))
    keep = _order(present[s.key] for s in members if s.key in present)
    return Plan(add=add, keep=keep)


def plan_weights(weights: Sequence[WeightSpec], actual: Sequence[Member]) -> Plan:
    """Re-weight the members named; those already at the weight are kept, unknown are missing."""
    present = {m.key: m for m in actual}
    reweight: list[Reweight] = []
    keep: list[Member] = []
    missing: list[Endpoint] = []
    for spec in sorted(weights, key=lambda s: s.key):
        member = present.get(spec.key)
        if member is None:
            missing.append(Endpoint(address=spec.address, protocol_port=spec.protocol_port))
        elif member.weight == spec.weight:
            keep.append(member)
        else:
            reweight.append(Reweight(member, spec.weight))
    return Plan(reweight=tuple(reweight), keep=tuple(keep), missing=tuple(missing))


def plan_removal(targets: Sequence[Endpoint], actual: Sequence[Member], guards: Guards) -> Plan:
    """Remove the members named, through the guards; unknown ones are reported missing."""
    present = {m.key: m for m in actual}
    wanted = {t.key for t in targets}
    missing = tuple(
        Endpoint(address=a, protocol_port=p) for a, p in sorted(wanted - present.keys())
    )
    candidates = [m for m in actual if m.key in wanted]
    remove, refused = _guard_removals(candidates, actual, guards)
    return Plan(remove=remove, refused=refused, missing=missing)


def plan_desired(
    desired: Sequence[MemberSpec],
    actual: Sequence[Member],
    guards: Guards,
    *,
    default_weight: int = 1,
) -> Plan:
    """Make the pool hold exactly ``desired``: add, re-weight and remove, through the guards."""
    present = {m.key: m for m in actual}
    wanted = {spec.key: spec for spec in desired}
    add = tuple(spec for key, spec in sorted(wanted.items()) if key not in present)
    reweight: list[Reweight] = []
    keep: list[Member] = []
    for key, spec in sorted(wanted.items()):
        member = present.get(key)
        if member is None:
            continue
        target = spec.weight if spec.weight is not None else default_weight
        if member.weight != target:
            reweight.append(Reweight(member, target))
        else:
            keep.append(member)
    candidates = [m for m in actual if m.key not in wanted]
    remove, refused = _guard_removals(candidates, actual, guards)
    return Plan(add=add, reweight=tuple(reweight), remove=remove, keep=tuple(keep), refused=refused)


def _guard_removals(
    candidates: Sequence[Member], actual: Sequence[Member], guards: Guards
) -> tuple[tuple[Member, ...], tuple[Refusal, ...]]:
    refused: list[Refusal] = []
    allowed: list[Member] = []
    for member in _order(candidates):
        if owned(member) or guards.adopt:
            allowed.append(member)
        else:
            refused.append(Refusal(member, "not created by elbsync; set adopt to remove it"))
    if guards.force or not allowed:
        return tuple(allowed), tuple(refused)

    limit = max(1, math.floor(guards.max_remove_share * len(actual)))
    if len(allowed) > limit:
        reason = (
            f"would remove {len(allowed)} of {len(actual)} members, more than "
            f"max_remove_share {guards.max_remove_share:g} allows ({limit})"
        )
        return (), tuple(refused) + tuple(Refusal(m, reason) for m in allowed)

    leaving = {m.key for m in allowed}
    serving_left = [m for m in actual if m.key not in leaving and m.serving]
    serving_leaving = [m for m in allowed if m.serving]
    if serving_leaving and not serving_left:
        last = serving_leaving[0]
        allowed.remove(last)
        refused.append(Refusal(last, f"last {last.operating_status} member; set force to remove"))
    return tuple(allowed), tuple(refused)
