"""``elbsync burst``: an Auto Scaling burst against the emulator, measured.

``launches`` instances of the default world's ``asg-web`` launch at once. Their SMN
notifications are handled by ``concurrency`` invocations of member_events running side by side
(threads standing in for function instances), against the default world's load balancer, which
is busy for 0.5 s after every write. Then check_poller ticks (a minute of virtual time apart)
until nothing waits. The report says what a production operator cares about: every instance in
both pools and CONTINUEd, nothing abandoned or left behind, how many writes each pool took
against the minimum, and how often ELB refused a write as busy.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import Any, TextIO

from elbsync.clients.elb import BATCH_LIMIT
from elbsync.devkit.context import LocalContext
from elbsync.devkit.invoke import load_handler
from elbsync.devkit.local import Cloud, functions_against, world_running

__all__ = ["BUSY_CODE", "TIMER", "WRITES", "BurstReport", "bindings", "main", "run_burst"]

WRITES = ("elb.batch_add", "elb.batch_update", "elb.batch_delete")
BUSY_CODE = "ELB.8907"
TIMER = {"version": "v1.0", "time": "", "trigger_type": "TIMER", "trigger_name": "burst"}


@dataclass
class BurstReport:
    launches: int
    concurrency: int
    #: How each invocation answered its event: ``applied`` or ``queued``.
    replies: Counter[str] = field(default_factory=Counter)
    #: Accepted batch writes per pool name, and the fewest that could carry the burst.
    writes: dict[str, int] = field(default_factory=dict)
    minimum_writes: int = 1
    busy_refusals: int = 0
    throttled: int = 0
    #: Lifecycle decisions Auto Scaling recorded for the launched instances.
    decisions: Counter[str] = field(default_factory=Counter)
    in_every_pool: int = 0
    #: Members of abandoned instances still in a pool.
    left_behind: int = 0
    invocation_s: float = 0.0
    ticks: int = 0
    settled: bool = False

    @property
    def worst_write_ratio(self) -> float:
        return max(self.writes.values(), default=0) / self.minimum_writes

    def ok(self) -> bool:
        return (
            self.settled
            and self.in_every_pool == self.launches
            and self.decisions == Counter({"CONTINUE": self.launches})
            and self.left_behind == 0
        )

    def lines(self) -> list[str]:
        writes = ", ".join(f"{pool} {count}" for pool, count in sorted(self.writes.items()))
        return [
            f"launches: {self.launches} handled by {self.concurrency} concurrent invocations "
            f"in {self.invocation_s:.1f} s; replies {dict(self.replies)}",
            f"accepted writes per pool: {writes} (minimum {self.minimum_writes} each; "
            f"worst {self.worst_write_ratio:.1f}x the minimum)",
            f"busy refusals: {self.busy_refusals}; throttled calls: {self.throttled}",
            f"decisions: {dict(self.decisions)}; in every pool: {self.in_every_pool}; "
            f"members left behind: {self.left_behind}; poller ticks: {self.ticks}",
            "result: " + ("every instance in every pool and CONTINUEd" if self.ok() else "FAILED"),
        ]


def bindings(cloud: Cloud) -> str:
    lb = next(lb for lb in cloud.world.load_balancers if lb.name == "lb-web")
    listeners = {li.name: li.id for li in lb.listeners}
    return json.dumps(
        {
            "bindings": [
                {
                    "name": "web",
                    "scaling_group_name": "asg-web",
                    "pools": [
                        {
                            "pool_id": cloud.pool("pool-web"),
                            "load_balancer_id": lb.id,
                            "protocol_port": 80,
                            "weight": 10,
                            "listener_ids": [listeners["listener-http"]],
                        },
                        {
                            "pool_id": cloud.pool("pool-api"),
                            "load_balancer_id": lb.id,
                            "protocol_port": 8080,
                            "weight": 5,
                            "listener_ids": [listeners["listener-api"]],
                        },
                    ],
                    "health_gate": {"timeout_seconds": 600, "on_failure": "ABANDON"},
                }
            ]
        }
    )


def run_burst(
    cloud: Cloud,
    state: Path,
    *,
    launches: int = 100,
    concurrency: int = 20,
    max_ticks: int = 6,
    before: Callable[[Cloud], None] | None = None,
) -> BurstReport:
    """Launch, handle every notification concurrently, tick until settled; report."""
    report = BurstReport(launches, concurrency, minimum_writes=ceil(launches / BATCH_LIMIT))
    group = next(g.id for g in cloud.world.scaling_groups if g.name == "asg-web")
    with functions_against(cloud.emulator, state, bindings=bindings(cloud), clock=cloud.now):
        member_events = load_handler("member_events")
        check_poller = load_handler("check_poller")
        launched = cloud.admin("POST", f"autoscaling/groups/{group}/launch", {"count": launches})
        instances = [i["instance_id"] for i in launched["instances"]]
        cloud.admin("DELETE", "calls")
        if before is not None:
            before(cloud)

        def handle(event: dict[str, Any]) -> str:
            reply = member_events(event, LocalContext("member_events", timeout_s=60))
            assert isinstance(reply, dict)
            return str(reply["events"][0]["status"])

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fn") as pool:
            report.replies.update(pool.map(handle, launched["events"]))
        report.invocation_s = time.monotonic() - started
        for _ in range(max_ticks):
            cloud.emulator.clock.advance(60)
            tick = check_poller(
                dict(TIMER, user_event=""), LocalContext("check_poller", timeout_s=60)
            )
            report.ticks += 1
            assert isinstance(tick, dict)
            if not any(v for v in tick["pending"].values()):
                report.settled = True
                break
        _measure(cloud, report, instances)
    return report


def _measure(cloud: Cloud, report: BurstReport, instances: list[str]) -> None:
    names = {cloud.pool("pool-web"): "pool-web", cloud.pool("pool-api"): "pool-api"}
    writes: Counter[str] = Counter({name: 0 for name in names.values()})
    for entry in cloud.admin("GET", "requests")["requests"]:
        if entry["error_code"] == BUSY_CODE:
            report.busy_refusals += 1
        if entry["status"] == 429:
            report.throttled += 1
        if entry["operation"] in WRITES and entry["status"] in (200, 201):
            pool = next((name for pid, name in names.items() if pid in entry["path"]), None)
            if pool is not None:
                writes[pool] += 1
    report.writes = dict(writes)
    members = {
        pool["id"]: {m["name"] for m in pool["members"]}
        for pool in cloud.admin("GET", "snapshot")["pools"]
        if pool["id"] in names
    }
    states = {i["instance_id"]: i for i in cloud.admin("GET", "autoscaling/instances")["instances"]}
    for instance_id in instances:
        name = f"elbsync:as:{instance_id}"
        joined = sum(1 for pool_names in members.values() if name in pool_names)
        for action in states[instance_id]["actions"]:
            report.decisions.update(d["result"] for d in action["decisions"])
        abandoned = any(
            d["result"] == "ABANDON"
            for action in states[instance_id]["actions"]
            for d in action["decisions"]
        )
        if abandoned:
            report.left_behind += joined
        elif joined == len(members):
            report.in_every_pool += 1


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="elbsync burst", description=__doc__)
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--throttle", type=float, default=0.0, help="share of ELB calls answered 429 (0-1)"
    )
    args = parser.parse_args(argv)

    def throttle(cloud: Cloud) -> None:
        if args.throttle > 0:
            cloud.admin(
                "POST", "faults", {"operation": "*", "kind": "throttle", "rate": args.throttle}
            )

    with world_running() as cloud, tempfile.TemporaryDirectory(prefix="elbsync-burst-") as tmp:
        print(f"elbsync burst: emulator at {cloud.emulator.base_url}", file=out, flush=True)
        report = run_burst(
            cloud,
            Path(tmp),
            launches=args.launches,
            concurrency=args.concurrency,
            before=throttle,
        )
    for line in report.lines():
        print(line, file=out)
    return 0 if report.ok() else 1
