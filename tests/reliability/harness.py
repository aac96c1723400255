"""The fault campaign's world: the functions of this process against the emulator, with faults,
crashes, redeliveries and races injected, step by step from one seed.

A run is a seeded sequence of steps: instances launch and terminate, deployment pipelines
register members, timer ticks run, and the platform delivers every event at least once (twice,
three times, out of order, two at a time). Each seed also draws API faults (throttling, 5xx,
dropped connections, lost and slow replies) and store faults (unavailable, and writes whose
outcome is unknown), and may kill an invocation at its n-th remote call, before the request or
after it but before the reply. Then faults stop and the run *settles*: every event the platform
still owes is delivered, and the poller ticks until nothing waits. :mod:`.model` checks the end.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from elbsync import runtime
from elbsync.deadline import Deadline
from elbsync.devkit.burst import bindings as burst_bindings
from elbsync.devkit.context import LocalContext
from elbsync.devkit.invoke import load_handler
from elbsync.devkit.local import Cloud, functions_against
from elbsync.errors import ElbsyncError
from elbsync.http.session import USER_AGENT
from elbsync.runtime.logs import configure
from elbsync.state.directory import DirectoryStore
from elbsync.state.errors import StoreUnavailableError
from elbsync.state.store import ListPage, ObjectStore, StoredObject

TIMER = {"version": "v1.0", "time": "", "trigger_type": "TIMER", "trigger_name": "campaign"}
STATIC_PORT = 8081
SETTLE_TICKS = 30
#: The campaign's health gate: a broken instance is abandoned well before its hook times out.
HEALTH_GATE_S = 120
SETTLE_DELIVERIES = 12
API_FAULTS = (
    {"kind": "throttle"},
    {"kind": "error", "status": 503},
    {"kind": "error", "status": 500},
    {"kind": "drop"},
    {"kind": "lose_reply"},
    {"kind": "slow_reply", "latency_ms": 1500},
)
WRITE_OPERATIONS = ("elb.batch_add", "elb.batch_update", "elb.batch_delete", "as.callback")


class Killed(BaseException):
    """The function instance died: no ``except Exception`` and no cleanup call survives it."""


@dataclass
class Crash:
    """Kill the next invocation at its ``at``-th remote call (API or store), ``before`` the
    request leaves or after its reply arrived; once dead, every further call dies too."""

    at: int
    before: bool
    calls: int = 0
    dead: bool = False

    def __str__(self) -> str:
        return f"killed at call {self.at} ({'before' if self.before else 'after'})"

    def on_call(self, *, sent: bool) -> None:
        if self.dead:
            raise Killed
        if not sent:
            self.calls += 1
        if self.calls == self.at and self.before != sent:
            self.dead = True
            raise Killed


class Injector:
    """Process-wide hooks the client transport and the store consult on every call."""

    def __init__(self) -> None:
        self.crash: Crash | None = None
        self.store_fault_rate = 0.0
        self.rng = random.Random(0)
        self.lock = threading.Lock()

    def call(self, *, sent: bool) -> None:
        crash = self.crash
        if crash is not None:
            crash.on_call(sent=sent)

    def store_fault(self) -> str | None:
        with self.lock:
            if self.store_fault_rate <= 0 or self.rng.random() >= self.store_fault_rate:
                return None
            return "unavailable" if self.rng.random() < 0.5 else "applied"


class CrashingTransport(httpx.BaseTransport):
    def __init__(self, injector: Injector) -> None:
        self.injector = injector
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.injector.call(sent=False)
        response = self.inner.handle_request(request)
        response.read()
        self.injector.call(sent=True)
        return response

    def close(self) -> None:
        self.inner.close()


class FaultyStore(ObjectStore):
    """A directory store whose calls can fail the way a bucket's do: unavailable before the
    call, or a write that happened although its reply (and the read-back) never came."""

    def __init__(self, inner: DirectoryStore, injector: Injector) -> None:
        super().__init__(deadline=inner.deadline)
        self.inner = inner
        self.injector = injector
        self.url = inner.url

    def _around(self, operation: str, key: str, call: Callable[[], Any]) -> Any:
        self.injector.call(sent=False)
        fault = self.injector.store_fault()
        write = operation in ("put", "create", "delete")
        if fault == "unavailable" or (fault is not None and not write):
            raise StoreUnavailableError("injected: unavailable", operation=operation, key=key)
        result = call()
        self.injector.call(sent=True)
        if fault == "applied":
            # The write happened; its reply and the read-back both failed.
            raise StoreUnavailableError(
                "injected: reply lost after the write", operation=operation, key=key
            )
        return result

    def get(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None:
        result: StoredObject | None = self._around("get", key, lambda: self.inner.get(key))
        return result

    def put(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        return str(self._around("put", key, lambda: self.inner.put(key, data)))

    def create(self, key: str, data: bytes, *, deadline: Deadline | None = None) -> str:
        return str(self._around("create", key, lambda: self.inner.create(key, data)))

    def delete(
        self, key: str, *, deadline: Deadline | None = None, expected_etag: str | None = None
    ) -> None:
        self._around("delete", key, lambda: self.inner.delete(key, expected_etag=expected_etag))

    def list_page(
        self,
        prefix: str,
        *,
        marker: str | None = None,
        limit: int = 1000,
        deadline: Deadline | None = None,
    ) -> ListPage:
        page: ListPage = self._around(
            "list", prefix, lambda: self.inner.list_page(prefix, marker=marker, limit=limit)
        )
        return page


@dataclass
class Delivery:
    """An event the platform owes the function, and how often it was delivered."""

    event: dict[str, Any]
    label: str
    attempts: int = 0
    done: bool = False


@dataclass
class Outcome:
    """What happened to the functions during a run (the model checks the cloud and store)."""

    seed: int
    steps: list[str] = field(default_factory=list)
    #: Exceptions a handler raised that no trigger may see: anything but a transient
    #: elbsync error (which asks for a redelivery) or an injected kill.
    unexpected: list[str] = field(default_factory=list)
    #: Events of the run refused as bad input (none of them is).
    rejected: list[str] = field(default_factory=list)
    registered: dict[str, int] = field(default_factory=dict)
    #: Instances the run launched (the world's own instances are not elbsync's to manage).
    launched: list[str] = field(default_factory=list)
    #: Launched instances whose server was stopped: they must be abandoned, members and all.
    broken: list[str] = field(default_factory=list)
    settled: bool = False
    #: Every reply a function gave, as JSON text, and every log line it wrote.
    replies: list[str] = field(default_factory=list)
    log: str = ""
    secrets: tuple[str, ...] = ()
    #: Remote calls of the last ``count`` or ``crash`` step's invocation.
    remote_calls: int = 0
    #: Events no delivery got an answer for, even after faults stopped.
    undelivered: list[str] = field(default_factory=list)


class Campaign:
    """One seeded run against a running emulator (reset to its initial world first)."""

    def __init__(
        self,
        cloud: Cloud,
        state: Path,
        seed: int,
        *,
        steps: int = 8,
        script: tuple[str, ...] | None = None,
    ) -> None:
        self.cloud = cloud
        self.state = state
        self.seed = seed
        self.rng = random.Random(seed)
        self.steps = steps
        #: A fixed sequence instead of random steps, without faults (see :meth:`_scripted`).
        self.script = script
        self.injector = Injector()
        self.injector.rng = random.Random(seed * 7919 + 1)
        self.inbox: list[Delivery] = []
        self.outcome = Outcome(seed)
        self.group = next(g.id for g in cloud.world.scaling_groups if g.name == "asg-web")
        self._register_count = 0
        self.log = io.StringIO()
        self.secrets: tuple[str, ...] = ()

    # -- running -------------------------------------------------------------------------

    def run(self) -> Outcome:
        self.cloud.emulator.reset(self.cloud.emulator.initial_world)
        with self._functions():
            self.member_events = load_handler("member_events")
            self.check_poller = load_handler("check_poller")
            if self.script is None:
                self._draw_faults()
                for _ in range(self.steps):
                    self._step()
            else:
                for step in self.script:
                    self._scripted(step)
            self._settle()
        self.outcome.log = self.log.getvalue()
        self.outcome.secrets = self.secrets
        return self.outcome

    @contextmanager
    def _functions(self) -> Iterator[None]:
        document = json.loads(burst_bindings(self.cloud))
        document["bindings"][0]["health_gate"]["timeout_seconds"] = HEALTH_GATE_S
        settings_bindings = json.dumps(document)
        client = httpx.Client(
            transport=CrashingTransport(self.injector),
            timeout=httpx.Timeout(1.0, connect=1.0),
            headers={"User-Agent": USER_AGENT},
        )
        runtime.use_client(client)

        def store(deadline: Deadline) -> ObjectStore:
            return FaultyStore(DirectoryStore(str(self.state), deadline=deadline), self.injector)

        runtime.use_store(store)
        try:
            with functions_against(
                self.cloud.emulator,
                self.state,
                bindings=settings_bindings,
                clock=self.cloud.now,
                busy_wait_ms=500,
            ):
                # The temporary credentials: AK, SK and a security token, all recognisable,
                # so the scan for leaks knows what to look for.
                temporary = self.cloud.world.credentials[1]
                assert temporary.security_token
                self.secrets = (
                    temporary.access_key,
                    temporary.secret_key,
                    temporary.security_token,
                )
                settings = runtime.load_settings().model_copy(
                    update={
                        "write_linger_ms": 50,
                        "http_timeout": 1.0,
                        "max_attempts": 3,
                        "access_key": temporary.access_key,
                        "secret_key": temporary.secret_key,
                        "security_token": temporary.security_token,
                    }
                )
                runtime.use_settings(settings)
                configure(fmt="json", level="debug", stream=self.log, force=True)
                yield
        finally:
            runtime.use_store(None)
            runtime.use_client(None)
            client.close()

    def _draw_faults(self) -> None:
        for _ in range(self.rng.randint(0, 3)):
            spec = dict(self.rng.choice(API_FAULTS))
            operation = self.rng.choice(
                ["*", *WRITE_OPERATIONS, "elb.list_members", "as.list_hanging"]
            )
            rate = round(self.rng.uniform(0.05, 0.25), 2)
            self.cloud.admin("POST", "faults", {"operation": operation, "rate": rate, **spec})
            self.outcome.steps.append(f"fault {operation} {spec['kind']} rate={rate}")
        self.injector.store_fault_rate = self.rng.choice([0.0, 0.0, 0.02, 0.05])
        if self.injector.store_fault_rate:
            self.outcome.steps.append(f"store faults rate={self.injector.store_fault_rate}")

    def _step(self) -> None:
        choice = self.rng.random()
        if choice < 0.20:
            self._launch(self.rng.randint(1, 2))
        elif choice < 0.25:
            self._launch(1, broken=True)
        elif choice < 0.35:
            self._terminate()
        elif choice < 0.45:
            self._register()
        elif choice < 0.70:
            self._deliver(crash=self.rng.random() < 0.3)
        elif choice < 0.80:
            self._deliver_two()
        elif choice < 0.92:
            self._tick(crash=self.rng.random() < 0.2)
        else:
            self._two_pollers()
        self._travel(self.rng.choice([0, 2, 5, 15]))

    def _scripted(self, step: str) -> None:
        """``launch``, ``terminate``, ``register``, ``tick`` (after 15 s), ``deliver`` (every
        owed event once, in order), ``replay`` (every event again), ``crash:<n>:before`` /
        ``crash:<n>:after`` (deliver the first owed event, killed at its n-th remote call), or
        ``count`` (deliver it, counting its remote calls in ``remote_calls``)."""
        kind, _, rest = step.partition(":")
        if kind == "launch":
            self._launch(1)
        elif kind == "launch-broken":
            self._launch(1, broken=True)
        elif kind == "terminate":
            self._terminate()
        elif kind == "register":
            self._register()
        elif kind == "tick":
            self._travel(15)
            self._tick()
        elif kind in ("deliver", "replay"):
            for delivery in list(self.inbox):
                if kind == "replay" or not delivery.done:
                    self.outcome.steps.append(f"deliver {delivery.label}")
                    self._invoke_event(delivery)
        elif kind in ("crash", "count"):
            at, _, when = rest.partition(":")
            delivery = next(d for d in self.inbox if not d.done)
            crash = Crash(at=int(at or 0), before=when == "before")
            self.outcome.steps.append(f"deliver {delivery.label} {crash}")
            self._killed(crash, lambda: self._invoke_event(delivery))
            self.outcome.remote_calls = crash.calls
        else:
            raise ValueError(f"unknown step {step!r}")

    def _launch(self, count: int, *, broken: bool = False) -> None:
        """Launch ``count`` instances; a ``broken`` one's server stops at once, so its members
        never get healthy and the health gate must abandon it."""
        reply = self.cloud.admin(
            "POST", f"autoscaling/groups/{self.group}/launch", {"count": count}
        )
        for instance, event in zip(reply["instances"], reply["events"], strict=True):
            instance_id = instance["instance_id"]
            self.outcome.launched.append(instance_id)
            if broken:
                self.cloud.admin("POST", f"servers/{instance_id}/stop")
                self.outcome.broken.append(instance_id)
            self.inbox.append(Delivery(event, f"launch {instance_id}"))
        self.outcome.steps.append(f"launch {count}{' broken' if broken else ''}")

    def _terminate(self) -> None:
        states = self.cloud.admin("GET", f"autoscaling/instances?group_id={self.group}")
        serving = [
            i["instance_id"]
            for i in states["instances"]
            if i["lifecycle_state"] == "INSERVICE" and i["instance_id"] in self.outcome.launched
        ]
        if not serving:
            return
        victim = self.rng.choice(sorted(serving))
        reply = self.cloud.admin(
            "POST", f"autoscaling/groups/{self.group}/terminate", {"instance_ids": [victim]}
        )
        for event in reply["events"]:
            self.inbox.append(Delivery(event, f"terminate {victim}"))
        self.outcome.steps.append(f"terminate {victim}")

    def _register(self) -> None:
        """A pipeline registers fresh members of pool-static (each address once)."""
        lb = next(lb for lb in self.cloud.world.load_balancers if lb.name == "lb-web")
        subnet = next(s.id for s in self.cloud.world.subnets if s.name == "subnet-app")
        members = []
        for _ in range(self.rng.randint(1, 3)):
            self._register_count += 1
            address = f"192.168.1.{100 + self._register_count}"
            weight = self.rng.randint(1, 100)
            members.append(
                {
                    "address": address,
                    "protocol_port": STATIC_PORT,
                    "subnet_cidr_id": subnet,
                    "weight": weight,
                }
            )
            self.outcome.registered[address] = weight
        event = {
            "specversion": "1.0",
            "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "source": "campaign/pipeline",
            "type": "elbsync.members.register",
            "datacontenttype": "application/json",
            "data": {
                "pool_id": self.cloud.pool("pool-static"),
                "load_balancer_id": lb.id,
                "members": members,
            },
        }
        self.inbox.append(Delivery(event, f"register {[m['address'] for m in members]}"))
        self.outcome.steps.append(f"register {len(members)}")

    def _pick(self) -> Delivery | None:
        owed = [d for d in self.inbox if not d.done or self.rng.random() < 0.15]
        return self.rng.choice(owed) if owed else None

    def _deliver(self, *, crash: bool = False) -> None:
        delivery = self._pick()
        if delivery is None:
            return
        kill = self._random_crash(10) if crash else None
        self.outcome.steps.append(f"deliver {delivery.label} {kill or ''}".rstrip())
        self._killed(kill, lambda: self._invoke_event(delivery))

    def _deliver_two(self) -> None:
        first, second = self._pick(), self._pick()
        if first is None or second is None:
            return
        self.outcome.steps.append(f"deliver together: {first.label} | {second.label}")
        threads = [threading.Thread(target=self._invoke_event, args=(d,)) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    def _tick(self, *, crash: bool = False) -> None:
        kill = self._random_crash(15) if crash else None
        self.outcome.steps.append(f"tick {kill or ''}".rstrip())
        self._killed(kill, self._invoke_tick)

    def _random_crash(self, calls: int) -> Crash:
        return Crash(at=self.rng.randint(1, calls), before=self.rng.random() < 0.5)

    def _killed(self, crash: Crash | None, invoke: Callable[[], object]) -> None:
        """Run one invocation, killed as ``crash`` says (or not at all)."""
        self.injector.crash = crash
        try:
            invoke()
        finally:
            self.injector.crash = None

    def _two_pollers(self) -> None:
        self.outcome.steps.append("two pollers at once")
        threads = [threading.Thread(target=self._invoke_tick) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    def _travel(self, seconds: float) -> None:
        if seconds:
            self.cloud.emulator.clock.advance(seconds)

    # -- one invocation ----------------------------------------------------------------

    def _invoke_event(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            reply = self.member_events(delivery.event, LocalContext("member_events", timeout_s=30))
        except Killed:
            return
        except ElbsyncError as exc:
            if exc.client_error:
                self.outcome.unexpected.append(f"{delivery.label}: client error {exc!r}")
            return  # the platform delivers it again
        except Exception as exc:  # noqa: BLE001 - every crash is a finding
            self.outcome.unexpected.append(f"{delivery.label}: {type(exc).__name__}: {exc}")
            return
        if not isinstance(reply, dict):
            self.outcome.unexpected.append(f"{delivery.label}: reply {reply!r}")
            return
        self.outcome.replies.append(json.dumps(reply, default=str))
        for event in reply.get("events", []):
            if event.get("status") == "rejected":
                self.outcome.rejected.append(f"{delivery.label}: {event.get('error')}")
        delivery.done = True

    def _invoke_tick(self) -> dict[str, Any] | None:
        try:
            reply = self.check_poller(dict(TIMER), LocalContext("check_poller", timeout_s=30))
        except Killed:
            return None
        except ElbsyncError:
            return None
        except Exception as exc:  # noqa: BLE001 - every crash is a finding
            self.outcome.unexpected.append(f"tick: {type(exc).__name__}: {exc}")
            return None
        if not isinstance(reply, dict):
            return None
        self.outcome.replies.append(json.dumps(reply, default=str))
        return reply

    # -- settling ------------------------------------------------------------------------

    def _settle(self) -> None:
        self.cloud.admin("DELETE", "faults")
        self.injector.store_fault_rate = 0.0
        self.outcome.steps.append("settle")
        # A script says every delivery itself: the platform redelivers promptly and a bounded
        # number of times, so an event turned away after a crash stays lost.
        owed = self.inbox if self.script is None else []
        for delivery in owed:
            for _ in range(SETTLE_DELIVERIES):
                if delivery.done:
                    break
                self._invoke_event(delivery)
        self.outcome.undelivered = [d.label for d in self.inbox if not d.done]
        for _ in range(SETTLE_TICKS):
            self._travel(20)
            reply = self._invoke_tick()
            if reply is not None and not any(reply.get("pending", {}).values()):
                self.outcome.settled = True
                break
