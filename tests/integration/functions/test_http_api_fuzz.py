"""http_api fuzzed from its committed OpenAPI document (schemathesis), over real HTTP.

Every operation gets cases schemathesis generates from the document, valid and invalid, sent
through the loopback adapter to the handler on the emulator (busy window on). Most cases are
aimed at what exists: allowed pools (and sometimes one outside the allow-list), their members
and listeners, real addresses and subnets, a member list in the state store, and the check
jobs, operations (one of them left queued) and cursors that earlier replies named. Some go
without a key or with a wrong one, in another media type, over the size limit, or with a reused
Idempotency-Key; time moves on between many, and now and then a fault waits in the cloud. Every
reply must carry a documented status and content type and match its documented schema, and be
no server error unless a fault was waiting (then a documented 5xx may come).

``ELBSYNC_FUZZ_EXAMPLES`` sets the cases per operation (default 120; ``make soak`` runs 500).
The run is derandomized, so CI sees the same cases each time; nothing is shrunk.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from elbsync.api.routes import OPENAPI_FILE
from elbsync.deadline import Deadline
from elbsync.state.directory import DirectoryStore
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.functions.conftest import Api

EXAMPLES = int(os.environ.get("ELBSYNC_FUZZ_EXAMPLES", "120"))
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# By value: under mypy's Python 3.10 target the StrEnum's members look like plain strings.
POSITIVE, NEGATIVE = GenerationMode("positive"), GenerationMode("negative")
DOCUMENT = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
Operation = APIOperation[Any, Any, Any, Any]
OPERATIONS: list[Operation] = [
    SCHEMA[path][method] for path, methods in DOCUMENT["paths"].items() for method in methods
]
#: The member list the state store holds for ``members_key`` (and one key that holds nothing).
LIST_KEY, MISSING_KEY = "inputs/fuzz.json", "inputs/missing.json"
PORTS = (80, 8080, 8082, 9000)
#: Request media types besides application/json: refused (415), or accepted (+json).
MEDIA_TYPES = ("text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json")
#: Cloud weather now and then, for the next few calls: what turns a reply into 202, 502 or 503.
FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "throttle"},
    {"kind": "error", "status": 409, "error_code": "ELB.8907"},
    {"kind": "error", "status": 503, "retry_after_s": 1},
    {"kind": "error", "status": 500},
    {"kind": "latency", "latency_ms": 400},
    {"kind": "drop"},
    {"kind": "lose_reply"},
)
#: Where the weather strikes: any call, or the member writes only (the reads before them
#: would take most of it otherwise).
FAULTED = ("*", "elb.batch_add", "elb.batch_update", "elb.batch_delete")
#: Learned ids kept per kind: enough to choose from, few enough that old ones come back.
KEEP = 40


@dataclass
class Known:
    """What exists in this world, as far as the fuzzer knows: the world's own ids, and the
    ids earlier replies named (members, check jobs and operations by pool; cursors)."""

    pools: list[str]
    closed_pools: list[str]
    listeners: list[str]
    subnets: list[str]
    addresses: list[str]
    members: dict[str, list[str]] = field(default_factory=dict)
    jobs: list[tuple[str, str]] = field(default_factory=list)
    operations: list[tuple[str, str]] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    faults: int = 0
    slowest: float = 0.0

    def learn(self, reply: object, pool: str = "") -> None:
        """Remember the ids a reply names, however deep, with the pool they belong to."""
        if isinstance(reply, list):
            for item in reply:
                self.learn(item, pool)
        if not isinstance(reply, dict):
            return
        pools = reply.get("pools")
        if isinstance(reply.get("pool_id"), str):
            pool = reply["pool_id"]
        elif isinstance(pools, list) and len(pools) == 1:
            pool = pools[0]
        remember(self.members.setdefault(pool, []), reply.get("member_id"))
        remember(self.cursors, reply.get("next_cursor"))
        jobs = reply.get("check_jobs")
        for job in [reply.get("job_id"), *(jobs if isinstance(jobs, list) else [])]:
            remember_in(self.jobs, pool, job)
        remember_in(self.operations, pool, reply.get("operation_id"))
        for value in reply.values():
            self.learn(value, pool)


def remember(kept: list[str], value: object) -> None:
    """Keep a string not yet kept, dropping the oldest past KEEP."""
    if isinstance(value, str) and value not in kept:
        kept.append(value)
        del kept[:-KEEP]


def remember_in(kept: list[tuple[str, str]], pool: str, value: object) -> None:
    if isinstance(value, str) and (pool, value) not in kept:
        kept.append((pool, value))
        del kept[:-KEEP]


def the_world(api: Api, operation: Operation) -> Known:
    """The world's ids, then a check job, two changes and a page of waits made through the API,
    so that job, operation and cursor parameters have something real to name; for the
    operations route, also a change left queued (202) by a throttling ELB, to be resumed."""
    emulator = api.functions.emulator
    world = emulator.world
    known = Known(
        pools=[api.pool(name) for name in ("pool-web", "pool-api", "pool-protected")],
        closed_pools=[api.pool("pool-static"), api.pool("pool-dns")],
        listeners=[li.id for lb in world.load_balancers for li in lb.listeners],
        subnets=[subnet.id for subnet in world.subnets],
        addresses=[i.ip_address for server in world.servers for i in server.interfaces],
    )
    store = DirectoryStore(str(api.functions.state_dir), deadline=Deadline.after(30))
    members = [{"address": a, "protocol_port": 80} for a in known.addresses[:3]]
    store.put(LIST_KEY, json.dumps({"members": members}).encode())
    web, protected = api.pool("pool-web"), api.pool("pool-protected")
    for pool in (web, protected):
        seed(api, known, "GET", f"/v1/pools/{pool}/members")
    job = {"member_id": known.members[web][0], "listener_id": emulator.listener_id("listener-http")}
    seed(api, known, "POST", f"/v1/pools/{web}/check-jobs", job)
    seed(api, known, "PUT", f"/v1/pools/{web}/members", {"members": members, "dry_run": True})
    drain = {"members": members[1:2], "drain_seconds": 60, "adopt": True}
    seed(api, known, "POST", f"/v1/pools/{web}/members/batch-remove", drain)
    seed(api, known, "GET", "/v1/waits?limit=1")
    if "operation_id" in operation.path_parameters:
        emulator.add_fault(operation="elb.batch_update", kind="throttle", next_calls=6)
        weights = {"weights": [{**members[0], "weight": 3}]}
        seed(api, known, "POST", f"/v1/pools/{web}/members/batch-weights", weights, status=202)
    return known


def seed(
    api: Api, known: Known, method: str, path: str, body: object = None, *, status: int = 0
) -> None:
    """One request that must succeed (with ``status``, when given); its ids are remembered."""
    api.functions.travel(1)  # past the busy window: seeding is not what is measured
    reply = api.request(method, path, json=body)
    assert reply.status_code < 300, f"{method} {path}: {reply.status_code} {reply.text}"
    assert status in (0, reply.status_code), f"{method} {path}: {reply.status_code} {reply.text}"
    known.learn(reply.json())


def one_of_or(data: st.DataObject, choices: list[Any], generated: Any, share: int) -> Any:
    """A known value ``share`` times in ten (when one is known), else what was generated."""
    if choices and data.draw(st.integers(0, 9)) < share:
        return data.draw(st.sampled_from(choices))
    return generated


def aim_path(data: st.DataObject, case: Case[Any], known: Known) -> None:
    """Mostly an allowed pool, sometimes one outside the allow-list or a generated id; a job
    or operation mostly one that exists, and then mostly in its own pool."""
    params = case.path_parameters
    if "pool_id" in params:
        pick = data.draw(st.sampled_from(["allowed"] * 7 + ["closed", "generated"]))
        if pick == "allowed":
            params["pool_id"] = data.draw(st.sampled_from(known.pools))
        elif pick == "closed":
            params["pool_id"] = data.draw(st.sampled_from(known.closed_pools))
    for name, pairs in (("job_id", known.jobs), ("operation_id", known.operations)):
        if name in params:
            pool, params[name] = one_of_or(data, pairs, ("", params[name]), 8)
            if pool and data.draw(st.integers(0, 9)) < 8:
                params["pool_id"] = pool


def aim_query(data: st.DataObject, case: Case[Any], known: Known) -> None:
    if case.operation.path != "/v1/waits":
        return
    query = case.query
    if "pool_id" in query or data.draw(st.booleans()):
        query["pool_id"] = one_of_or(
            data, known.pools + known.closed_pools, query.get("pool_id"), 7
        )
    if "cursor" in query or data.draw(st.booleans()):
        query["cursor"] = one_of_or(data, known.cursors, query.get("cursor"), 7)
    for name in [name for name, value in query.items() if value is None]:
        del query[name]


def aim_members(data: st.DataObject, members: list[Any], known: Known) -> None:
    """Most lists get real addresses and ports, each pair once, so ELB has real work to refuse
    or do; a member that names a subnet mostly gets a real one."""
    pairs = [(address, port) for address in known.addresses for port in PORTS]
    if data.draw(st.integers(0, 9)) < 7:
        for member, (address, port) in zip(
            members, data.draw(st.permutations(pairs)), strict=False
        ):
            if isinstance(member, dict):
                member["address"], member["protocol_port"] = address, port
    for member in members:
        if isinstance(member, dict) and "subnet_cidr_id" in member:
            member["subnet_cidr_id"] = one_of_or(data, known.subnets, member["subnet_cidr_id"], 6)


def aim_body(data: st.DataObject, case: Case[Any], known: Known) -> None:
    if not isinstance(case.body, dict):
        return
    body: dict[str, Any] = case.body
    if "member_id" in body:
        pool = str(case.path_parameters.get("pool_id"))
        members = known.members.get(pool) or [m for ms in known.members.values() for m in ms]
        body["member_id"] = one_of_or(data, members, body["member_id"], 8)
    if "listener_id" in body:
        body["listener_id"] = one_of_or(data, known.listeners, body["listener_id"], 8)
    if isinstance(body.get("listener_ids"), list):
        body["listener_ids"] = [
            one_of_or(data, known.listeners, i, 7) for i in body["listener_ids"]
        ]
    if "members_key" in body:
        body["members_key"] = data.draw(
            st.sampled_from([LIST_KEY, MISSING_KEY, body["members_key"]])
        )
    for name in ("members", "weights"):
        if isinstance(body.get(name), list):
            aim_members(data, body[name], known)


def aim_headers(data: st.DataObject, case: Case[Any], api: Api) -> None:
    """The key in one of its two headers, none, or a wrong one; sometimes a reused
    Idempotency-Key, so replays and key reuse with another body are met."""
    headers = case.headers
    for name in [h for h in headers if h.lower() in ("x-api-key", "authorization")]:
        del headers[name]
    key = data.draw(st.sampled_from(["x-api-key"] * 6 + ["bearer", "none", "wrong"]))
    if key == "x-api-key":
        headers["X-Api-Key"] = api.key
    elif key == "bearer":
        headers["Authorization"] = f"Bearer {api.key}"
    elif key == "wrong":
        headers["X-Api-Key"] = data.draw(st.sampled_from([api.key[:-1], "not-a-key", "x" * 300]))
    if case.operation.body and data.draw(st.integers(0, 9)) < 2:
        headers["Idempotency-Key"] = data.draw(st.sampled_from(["fuzz-1", "fuzz-2"]))
    if case.operation.body and data.draw(st.integers(0, 9)) == 7:
        headers["Content-Type"] = data.draw(st.sampled_from(MEDIA_TYPES))


def aim_size(data: st.DataObject, case: Case[Any]) -> None:
    """Now and then a body over the API's limit (1 MiB): many members with long names."""
    if case.operation.body and data.draw(st.integers(0, 29)) == 17:
        member = {"address": "192.168.1.10", "protocol_port": 80, "name": "n" * 255}
        members: list[Any] = [member] * 4000
        case.body = {"members": members}


def weather(data: st.DataObject, api: Api, known: Known) -> None:
    """Time moves on between most requests (past the busy window, sometimes past a drain or
    a check job); now and then a fault waits in the cloud for the next calls."""
    if data.draw(st.booleans(), label="time moves on"):
        api.functions.travel(data.draw(st.sampled_from([1, 1, 5, 60]), label="seconds"))
    if data.draw(st.integers(0, 19), label="fault") == 7:
        fault = data.draw(st.sampled_from(FAULTS), label="fault kind")
        calls = data.draw(st.integers(1, 6), label="calls")
        operation = data.draw(st.sampled_from(FAULTED), label="faulted operation")
        api.functions.emulator.add_fault(operation=operation, next_calls=calls, **fault)
        known.faults += 1


def checks_for(api: Api, known: Known) -> list[CheckFunction]:
    """Every check; a server error (a documented 5xx) only while a fault waits in the cloud."""
    if known.faults and any(
        f["active"] for f in api.functions.emulator.admin("GET", "faults")["faults"]
    ):
        return [check for check in CHECKS if check is not not_a_server_error]
    return CHECKS


def modes(operation: Operation) -> list[GenerationMode]:
    """Invalid cases need something to make invalid: a parameter or a body."""
    if operation.path_parameters or operation.query or operation.body or operation.headers:
        return [POSITIVE, NEGATIVE]
    return [POSITIVE]


@pytest.mark.timeout(120 + 3 * EXAMPLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_reply_is_documented(api: Api, operation: Operation) -> None:
    known = the_world(api, operation)
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes(operation)])

    # One world per operation: the examples share it on purpose, so that ids one reply names
    # are used by later cases. The fixture stays outside the Hypothesis test for that reason
    # (so the function-scoped-fixture health check has nothing to object to).
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(cases, label="case")
        aim_path(data, case, known)
        aim_query(data, case, known)
        aim_body(data, case, known)
        aim_headers(data, case, api)
        aim_size(data, case)
        weather(data, api, known)
        checks = checks_for(api, known)
        started = time.monotonic()
        response = case.call_and_validate(base_url=api.server.url, checks=checks, timeout=60)
        known.slowest = max(known.slowest, time.monotonic() - started)
        known.statuses[response.status_code] += 1
        if response.headers.get("content-type", [""])[0].startswith("application/json"):
            known.learn(response.json())

    fuzz()
    statuses = dict(sorted(known.statuses.items()))
    print(f"{operation.label}: {statuses}, slowest reply {known.slowest:.1f} s")
    # Most cases must get past the key and the allow-list, or the fuzz tested only the door.
    past_the_door = sum(n for status, n in statuses.items() if status not in (401, 403))
    assert past_the_door >= sum(statuses.values()) // 2, statuses
