"""``elbsync demo``: the whole product on this machine, in well under a minute.

Starts the emulator (default world) on a free loopback port and a state directory in a
temporary folder, then tells three short stories and prints what happened as tables:

1. the API clients: add members to two pools, list them, shift weights, run a check job that
   finds a real fault of the world, delete the members;
2. the functions: an Auto Scaling group scales out (member_events adds the instance to its
   pools, check_poller lets it in once healthy) and back in (drain, delete, let go);
3. a deployment: a desired-state dry run, then the real run.

Nothing is left behind: the emulator stops and the temporary folder is removed.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from elbsync.clients.elb import ElbClient, MemberRef, MemberUpdate, NewMember
from elbsync.deadline import Deadline
from elbsync.devkit.context import LocalContext
from elbsync.devkit.emulator import Emulator, World, load_world
from elbsync.devkit.invoke import load_handler
from elbsync.devkit.local import functions_against
from elbsync.http.auth.sdk_hmac import AkSkAuth
from elbsync.http.session import ApiSession, new_client
from elbsync.waits.findings import findings

__all__ = [
    "Row",
    "Story",
    "admin",
    "clients_story",
    "demo_bindings",
    "deployment_story",
    "functions_story",
    "instance_decisions",
    "main",
    "running",
]

Row = Sequence[object]


class Story:
    """Prints numbered steps and tables; knows the world's ids by name."""

    def __init__(self, emulator: Emulator, out: TextIO) -> None:
        self.emulator = emulator
        self.world: World = emulator.initial_world
        self.out = out
        self.step = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def heading(self, text: str) -> None:
        self.say(f"\n== {text} ==")

    def action(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")

    def table(self, header: Row, rows: Sequence[Row]) -> None:
        cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for index, row in enumerate(cells):
            self.say("   " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
            if index == 0:
                self.say("   " + "  ".join("-" * w for w in widths))
        if not rows:
            self.say("   (none)")

    def named(self, kind: str, name: str) -> str:
        items: dict[str, Sequence[object]] = {
            "pool": [p for lb in self.world.load_balancers for p in lb.pools],
            "listener": [li for lb in self.world.load_balancers for li in lb.listeners],
            "subnet": self.world.subnets,
            "group": self.world.scaling_groups,
            "lb": self.world.load_balancers,
        }
        for item in items[kind]:
            if getattr(item, "name", None) == name:
                return str(getattr(item, "id"))  # noqa: B009 - world models share no base
        raise KeyError(f"no {kind} named {name}")

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.emulator.clock.now(), tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        self.emulator.clock.advance(seconds)
        self.say(f"   ... {seconds:g} s pass (virtual time)")


def clients_story(story: Story, elb: ElbClient) -> None:
    story.heading("Part 1: the API clients against the emulated ELB")
    web, api = story.named("pool", "pool-web"), story.named("pool", "pool-api")
    subnet = story.named("subnet", "subnet-app")

    story.action("Add 192.168.1.14 to pool-web (port 80) and to pool-api (port 8080)")
    added = {
        web: elb.batch_add(
            web,
            [
                NewMember(
                    address="192.168.1.14",
                    protocol_port=80,
                    subnet_cidr_id=subnet,
                    weight=1,
                    name="demo-web",
                )
            ],
        ),
        api: elb.batch_add(
            api,
            [
                NewMember(
                    address="192.168.1.14",
                    protocol_port=8080,
                    subnet_cidr_id=subnet,
                    weight=1,
                    name="demo-api",
                )
            ],
        ),
    }
    story.table(
        ("pool", "member", "result"),
        [
            (pool[:8], f"{r.address}:{r.protocol_port}", r.ret_status)
            for pool, rs in added.items()
            for r in rs
        ],
    )

    story.action("List pool-web")
    story.table(
        ("name", "member", "weight", "status"),
        [
            (m.name, f"{m.address}:{m.protocol_port}", m.weight, m.operating_status)
            for m in elb.list_members(web)
        ],
    )

    story.action("Shift weights in pool-web: canary 10 for the new member, 90 for web-1")
    by_name = {m.name: m for m in elb.list_members(web)}
    elb.batch_update(
        web,
        [
            MemberUpdate(id=by_name["demo-web"].id, weight=10),
            MemberUpdate(id=by_name["web-1"].id, weight=90),
        ],
    )
    story.table(
        ("name", "weight"),
        [(m.name, m.weight) for m in elb.list_members(web)],
    )

    story.action("Check members where the world has real faults: ELB's check job explains them")
    closed = elb.batch_add(
        web,
        [
            NewMember(
                address="192.168.1.13", protocol_port=80, subnet_cidr_id=subnet, name="closed-sg"
            )
        ],
    )
    added[web] += closed
    checks = [
        ("pool-api: health check on another port", added[api][0].id, "listener-api"),
        ("pool-web: security group closed", closed[0].id, "listener-http"),
    ]
    jobs = [
        (what, elb.create_check_job(str(member_id), story.named("listener", listener)))
        for what, member_id, listener in checks
    ]
    story.advance(3)
    story.table(
        ("member", "severity", "group", "reason"),
        [
            (what, f.severity, f.group, f.reason)
            for what, job_id in jobs
            for f in findings(elb.show_check_job(job_id))
        ],
    )

    story.action("Delete the demo members again")
    for pool, results in added.items():
        deleted = elb.batch_delete(pool, [MemberRef(id=str(r.id)) for r in results])
        story.table(
            ("pool", "member id", "result"),
            [(pool[:8], str(d.id)[:8], d.ret_status) for d in deleted],
        )


def functions_story(story: Story, state: Path) -> None:
    story.heading("Part 2: the functions keep the pools in step with Auto Scaling")
    group = story.named("group", "asg-web")
    member_events = load_handler("member_events")
    check_poller = load_handler("check_poller")
    timer = {
        "version": "v1.0",
        "time": "",
        "trigger_type": "TIMER",
        "trigger_name": "demo",
        "user_event": "",
    }

    def invoke(handler_name: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = member_events if handler_name == "member_events" else check_poller
        reply = handler(event, LocalContext(handler_name, timeout_s=60))
        assert isinstance(reply, dict)
        return reply

    story.action("Auto Scaling launches an instance; its hook notifies member_events through SMN")
    launched = admin(story, "POST", f"autoscaling/groups/{group}/launch", {"count": 1})
    instance = launched["instances"][0]
    reply = invoke("member_events", launched["events"][0])
    result = reply["events"][0]["result"]
    story.table(
        ("pool", "member", "result"),
        [
            (m["pool_id"][:8], f"{m['address']}:{m['protocol_port']}", m["result"])
            for m in result["members"]
        ],
    )
    lifecycle, jobs = result["lifecycle"]["status"], len(result["check_jobs"])
    story.say(f"   lifecycle action: {lifecycle}; check jobs started: {jobs}")

    story.action("check_poller runs every minute; first while the new members are still starting")
    story.advance(5)
    tick = invoke("check_poller", timer)
    story.say(f"   check jobs finished: {tick['finished']}; still waiting: {tick['pending']}")
    story.advance(10)
    tick = invoke("check_poller", timer)
    story.say(f"   decided: {tick['decided']}  (members ONLINE on every listener)")
    story.table(
        ("instance", "hook", "decisions"), instance_decisions(story, instance["instance_id"])
    )

    story.action("The group scales in: the instance is drained (weight 0) before it goes")
    terminated = admin(
        story,
        "POST",
        f"autoscaling/groups/{group}/terminate",
        {"instance_ids": [instance["instance_id"]]},
    )
    reply = invoke("member_events", terminated["events"][0])
    result = reply["events"][0]["result"]
    story.table(
        ("pool", "member", "result"),
        [
            (m["pool_id"][:8], f"{m['address']}:{m['protocol_port']}", m["result"])
            for m in result["members"]
        ],
    )
    story.advance(31)
    tick = invoke("check_poller", timer)
    story.say(f"   drained members deleted: {tick['drained']}; decided: {tick['decided']}")
    story.table(
        ("instance", "hook", "decisions"), instance_decisions(story, instance["instance_id"])
    )


def deployment_story(story: Story) -> None:
    story.heading("Part 3: a deployment declares what pool-static should hold")
    member_events = load_handler("member_events")
    pool, subnet = story.named("pool", "pool-static"), story.named("subnet", "subnet-app")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "demo-deploy-1",
        "source": "demo/pipeline",
        "type": "elbsync.pool.desired",
        "datacontenttype": "application/json",
        "data": {
            "pool_id": pool,
            "members": [
                {"address": a, "protocol_port": 8081, "weight": 5, "subnet_cidr_id": subnet}
                for a in ("192.168.1.10", "192.168.1.11")
            ],
            "dry_run": True,
        },
    }
    story.action("Dry run: the plan, nothing changed")
    reply = member_events(event, LocalContext("member_events"))
    assert isinstance(reply, dict)
    plan = reply["events"][0]["result"]["plan"]
    story.table(
        ("step", "member", "detail"),
        [("add", a["member"], f"weight {a['weight']}") for a in plan["add"]]
        + [("reweight", r["member"], f"{r['from']} -> {r['to']}") for r in plan["reweight"]]
        + [("remove", m, "") for m in plan["remove"]],
    )

    story.action("The real run")
    data = dict(event["data"])
    data["dry_run"] = False
    reply = member_events(
        {**event, "id": "demo-deploy-2", "data": data}, LocalContext("member_events")
    )
    assert isinstance(reply, dict)
    result = reply["events"][0]["result"]
    story.table(
        ("member", "result"),
        [(f"{m['address']}:{m['protocol_port']}", m["result"]) for m in result["members"]],
    )


def instance_decisions(story: Story, instance_id: str) -> list[Row]:
    for item in admin(story, "GET", "autoscaling/instances", None)["instances"]:
        if item["instance_id"] == instance_id:
            return [
                (
                    instance_id[:8],
                    a["lifecycle_hook_type"],
                    ", ".join(d["result"] for d in a["decisions"]) or "-",
                )
                for a in item["actions"]
            ]
    return []


def admin(story: Story, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    import httpx

    response = httpx.request(
        method, f"{story.emulator.base_url}/_emulator/{path}", json=body, timeout=10
    )
    response.raise_for_status()
    reply = response.json()
    assert isinstance(reply, dict)
    return reply


@contextmanager
def running(world: World) -> Iterator[Emulator]:
    emulator = Emulator(world)
    emulator.start("127.0.0.1", 0)
    try:
        yield emulator
    finally:
        emulator.stop()


def main(out: TextIO = sys.stdout) -> int:
    world = load_world()
    # A balancer stays busy for a short while after each write, as in the cloud, but briefer
    # than the default world's, so the story is not mostly waiting.
    behaviour = world.behaviour.model_copy(update={"busy_after_write_s": 0.1})
    world = world.model_copy(update={"behaviour": behaviour})
    with running(world) as emulator, tempfile.TemporaryDirectory(prefix="elbsync-demo-") as tmp:
        story = Story(emulator, out)
        story.say(f"elbsync demo: emulator at {emulator.base_url}, state in {tmp}")
        credentials = world.credentials[0]
        local = functions_against(
            emulator,
            Path(tmp),
            bindings=demo_bindings(story),
            clock=story.now,
            log_format="console",
            busy_wait_ms=100,
        )
        with local, new_client() as client:
            session = ApiSession(
                auth=AkSkAuth(
                    credentials.access_key,
                    credentials.secret_key,
                    project_id=credentials.project_id,
                ),
                deadline=Deadline.after(60),
                client=client,
            )
            clients_story(
                story,
                ElbClient(session, endpoint=emulator.base_url, project_id=credentials.project_id),
            )
            functions_story(story, Path(tmp))
            deployment_story(story)
        story.say("\nDone: emulator stopped, temporary state removed.")
    return 0


def demo_bindings(story: Story) -> str:
    import json

    lb = story.named("lb", "lb-web")
    return json.dumps(
        {
            "bindings": [
                {
                    "name": "web",
                    "scaling_group_name": "asg-web",
                    "pools": [
                        {
                            "pool_id": story.named("pool", "pool-web"),
                            "load_balancer_id": lb,
                            "protocol_port": 80,
                            "weight": 10,
                            "listener_ids": [story.named("listener", "listener-http")],
                            "drain_seconds": 30,
                        },
                        {
                            "pool_id": story.named("pool", "pool-static"),
                            "load_balancer_id": lb,
                            "protocol_port": 8081,
                            "weight": 5,
                            "listener_ids": [story.named("listener", "listener-static")],
                            "drain_seconds": 30,
                        },
                    ],
                    "health_gate": {"timeout_seconds": 300, "on_failure": "ABANDON"},
                }
            ]
        }
    )
