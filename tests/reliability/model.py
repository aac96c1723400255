"""The campaign's independent model: what must be true once a run has settled.

It reads the emulated cloud (instances, lifecycle actions and their decisions, pool members)
and the state directory, and knows nothing of how elbsync reached that end. Each invariant
names what it found wrong, so a failing seed says which promise broke.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elbsync.devkit.local import Cloud

from tests.reliability.harness import STATIC_PORT, Outcome

#: What the campaign's binding promises for every instance in service (burst bindings).
BOUND_POOLS = {"pool-web": (80, 10), "pool-api": (8080, 5)}
OWNED_PREFIX = "elbsync:as:"


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def check(cloud: Cloud, state: Path, outcome: Outcome) -> list[Violation]:
    """Every violation of the invariants at the end of a run (empty when all hold)."""
    snapshot = cloud.admin("GET", "snapshot")
    pools = {pool["name"]: pool["members"] for pool in snapshot["pools"]}
    instances = [
        instance
        for instance in cloud.admin("GET", "autoscaling/instances")["instances"]
        if instance["instance_id"] in outcome.launched
    ]
    found: list[Violation] = []
    found += _no_unhandled_failure(outcome)
    found += _instances_in_their_pools(instances, pools)
    found += _decided_exactly_once(instances, outcome.broken)
    found += _registered_members(outcome, pools)
    found += _others_untouched(cloud, pools)
    found += _records(state, instances, outcome)
    found += _no_secret_leaked(state, outcome)
    return found


#: What a signed request carries besides the keys: never to be seen outside the wire.
SIGNATURE_MARKS = ("Authorization", "Signature=", "SDK-HMAC-SHA256 Access=", "X-Security-Token")


def _no_secret_leaked(state: Path, outcome: Outcome) -> list[Violation]:
    """Neither the credentials nor a signature appear in a log line, a reply or a record."""
    found = []
    marks = (*outcome.secrets, *SIGNATURE_MARKS)
    places = [("log", outcome.log), *(("reply", reply) for reply in outcome.replies)]
    places += [
        (str(path.relative_to(state)), path.read_text(encoding="utf-8", errors="replace"))
        for path in sorted(state.rglob("*"))
        if path.is_file()
    ]
    for where, text in places:
        for mark in marks:
            if mark in text:
                found.append(Violation("no secret leaks", f"{mark[:12]}... in {where}"))
    if not outcome.log:
        found.append(Violation("no secret leaks", "no log line was captured to scan"))
    return found


def _no_unhandled_failure(outcome: Outcome) -> list[Violation]:
    found = [Violation("no unhandled exception", text) for text in outcome.unexpected]
    found += [Violation("valid events accepted", text) for text in outcome.rejected]
    found += [Violation("every event answered", text) for text in outcome.undelivered]
    if not outcome.settled:
        found.append(Violation("settles", "the poller still had work after settling"))
    return found


def _instances_in_their_pools(
    instances: list[dict[str, Any]], pools: dict[str, list[dict[str, Any]]]
) -> list[Violation]:
    found = []
    for instance in instances:
        name = OWNED_PREFIX + instance["instance_id"]
        state = instance["lifecycle_state"]
        for pool, (port, weight) in BOUND_POOLS.items():
            members = [m for m in pools[pool] if m["name"] == name]
            where = f"{instance['instance_id']} ({state}) in {pool}"
            if state == "INSERVICE":
                if len(members) != 1:
                    found.append(
                        Violation(
                            "in service: in every pool once", f"{where}: {len(members)} members"
                        )
                    )
                    continue
                member = members[0]
                wanted = (instance["instance_ip"], port, weight)
                got = (member["address"], member["protocol_port"], member["weight"])
                if got != wanted:
                    found.append(
                        Violation("right address, port and weight", f"{where}: {got} != {wanted}")
                    )
            elif state == "REMOVED" and members:
                found.append(
                    Violation("removed: in no pool", f"{where}: {len(members)} left behind")
                )
            elif state not in ("INSERVICE", "REMOVED"):
                found.append(Violation("lifecycle settled", f"{where}: still {state}"))
    return found


def _decided_exactly_once(instances: list[dict[str, Any]], broken: list[str]) -> list[Violation]:
    found = []
    for instance in instances:
        for action in instance["actions"]:
            final = [d for d in action["decisions"] if d["result"] != "EXTEND"]
            label = f"{action['lifecycle_hook_type']} of {instance['instance_id']}"
            if len(final) != 1:
                found.append(Violation("every action decided exactly once", f"{label}: {final}"))
            elif final[0]["source"] == "timeout":
                found.append(Violation("decided by elbsync, not by the hook's timeout", label))
            elif action["lifecycle_hook_type"] != "INSTANCE_LAUNCHING":
                continue
            elif instance["instance_id"] in broken and final[0]["result"] != "ABANDON":
                found.append(Violation("broken instances are abandoned", f"{label}: {final}"))
            elif instance["instance_id"] not in broken and final[0]["result"] != "CONTINUE":
                # Every other server the campaign launches is healthy and reachable: giving up
                # on one is a bug, however many faults the run met on the way.
                found.append(Violation("healthy instances are continued", f"{label}: {final}"))
    return found


def _registered_members(
    outcome: Outcome, pools: dict[str, list[dict[str, Any]]]
) -> list[Violation]:
    found = []
    static = Counter((m["address"], m["protocol_port"]) for m in pools["pool-static"])
    weights = {m["address"]: m["weight"] for m in pools["pool-static"]}
    for address, weight in outcome.registered.items():
        count = static[(address, STATIC_PORT)]
        if count != 1:
            found.append(Violation("registered: in the pool once", f"{address}: {count}"))
        elif weights[address] != weight:
            found.append(
                Violation(
                    "registered: with its weight", f"{address}: {weights[address]} != {weight}"
                )
            )
    return found


def _others_untouched(cloud: Cloud, pools: dict[str, list[dict[str, Any]]]) -> list[Violation]:
    found = []
    for lb in cloud.world.load_balancers:
        for pool in lb.pools:
            now = {(m["address"], m["protocol_port"]) for m in pools[pool.name]}
            for member in pool.members:
                if (member.address, member.protocol_port) not in now:
                    found.append(
                        Violation(
                            "members elbsync does not own are untouched",
                            f"{member.address}:{member.protocol_port} gone from {pool.name}",
                        )
                    )
    return found


def _records(state: Path, instances: list[dict[str, Any]], outcome: Outcome) -> list[Violation]:
    found = []
    for path in sorted(state.rglob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            found.append(Violation("no record corrupted", f"{path.relative_to(state)}: {exc}"))
    pending = state / "v1" / "pending"
    if outcome.settled and pending.exists():
        for path in sorted(pending.rglob("*.json")):
            found.append(Violation("everything terminal", f"{path.relative_to(state)} still waits"))
    decided = {
        action["lifecycle_action_key"]: action["status"]
        for instance in instances
        for action in instance["actions"]
    }
    for path in sorted((state / "v1" / "done" / "lifecycle-actions").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        key = record.get("action_key")
        if record.get("status") == "failed":
            found.append(Violation("records agree with the cloud", f"action {key} recorded failed"))
        if record.get("status") == "completed" and decided.get(key) != record.get("decision"):
            found.append(
                Violation(
                    "records agree with the cloud",
                    f"action {key}: recorded {record.get('decision')}, cloud {decided.get(key)}",
                )
            )
    return found
