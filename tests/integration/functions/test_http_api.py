"""http_api as a user with curl meets it: every route over real HTTP through the loopback
adapter (``elbsync serve-api``), against the emulator's default world with its 0.5 s busy
window, asserting the replies and what the emulated pools then hold."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from elbsync.api.access import new_key
from elbsync.devkit.invoke import load_handler
from elbsync.devkit.serve_api import ApiServer, apig_event
from elbsync.runtime.logs import configure
from jsonschema import Draft202012Validator

from tests.events import load_event
from tests.integration.functions.conftest import REPO, Api

MEMBERS = "/v1/pools/{pool_id}/members"
ADD = "/v1/pools/{pool_id}/members/batch-add"
REMOVE = "/v1/pools/{pool_id}/members/batch-remove"
WEIGHTS = "/v1/pools/{pool_id}/members/batch-weights"
CHECK_JOBS = "/v1/pools/{pool_id}/check-jobs"
CHECK_JOB = "/v1/pools/{pool_id}/check-jobs/{job_id}"
OPERATION = "/v1/pools/{pool_id}/operations/{operation_id}"
WAITS = "/v1/waits"

WEB_1 = ("192.168.1.10", 80)
WEB_2 = ("192.168.1.11", 80)
#: Seconds between polls of a 202's Location: the reply says 2 (Retry-After); the emulator's
#: busy window is 0.5 s, so a test polls faster to stay quick.
POLL_S = 0.25
POLLS = 60
#: A synchronous budget used up before the write path's first round, so a change is always
#: answered 202. (0.01 s is not: a request that plans quickly on an idle machine starts its first
#: round within it, and then sends its change.)
NO_TIME = "0.000001"


# --- helpers -----------------------------------------------------------------------------------


def path(api: Api, template: str, pool: str = "pool-web", **params: str) -> str:
    return template.format(pool_id=api.pool(pool), **params)


def spec(api: Api, address: str, port: int = 80, **extra: Any) -> dict[str, Any]:
    """A member on subnet-app, where the default world's servers live."""
    subnet = api.functions.emulator.subnet_id("subnet-app")
    return {"address": address, "protocol_port": port, "subnet_cidr_id": subnet, **extra}


def endpoint(address: str, port: int = 80) -> dict[str, Any]:
    return {"address": address, "protocol_port": port}


def pool_state(api: Api, pool: str = "pool-web") -> dict[tuple[str, int], dict[str, Any]]:
    """What the emulated pool holds now, by (address, port); a duplicate fails the test."""
    found = api.functions.emulator.pool_members(api.pool(pool))
    keys = Counter((m["address"], m["protocol_port"]) for m in found)
    assert all(n == 1 for n in keys.values()), keys
    return {(m["address"], m["protocol_port"]): m for m in found}


def rows(reply: httpx.Response) -> dict[tuple[str, int], dict[str, Any]]:
    """The per-member rows of a change reply, by (address, port)."""
    return {(r["address"], r["protocol_port"]): r for r in reply.json()["members"]}


def quiet(api: Api) -> None:
    """Let the load balancer's busy window after a write pass, on the virtual clock, where a
    test is not about it (the window itself stays on)."""
    api.functions.travel(1)


def writes(api: Api) -> int:
    calls = api.functions.emulator.calls()
    return sum(n for op, n in calls.items() if op.startswith("elb.batch_"))


def settle(api: Api, reply: httpx.Response) -> httpx.Response:
    """Follow a 202 to its operation until it answers something else (bounded)."""
    for _ in range(POLLS):
        if reply.status_code != 202:
            return reply
        time.sleep(POLL_S)
        reply = api.request("GET", reply.headers["Location"])
    raise AssertionError(f"still 202 after {POLLS} polls: {reply.text}")


def error_of(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert body["ok"] is False
    assert body["request_id"] == reply.headers["X-Request-Id"]
    error: dict[str, Any] = body["error"]
    return error


def waits(api: Api, **query: str) -> list[dict[str, Any]]:
    reply = api.request("GET", WAITS, params={"limit": "200", **query})
    assert reply.status_code == 200, reply.text
    assert reply.json()["next_cursor"] is None
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def document() -> dict[str, Any]:
    """The committed OpenAPI document."""
    committed = REPO / "shared" / "elbsync" / "api" / "openapi.json"
    loaded: dict[str, Any] = json.loads(committed.read_text(encoding="utf-8"))
    return loaded


def documented(reply: httpx.Response, method: str, template: str) -> None:
    """The reply's body is what the published document says this route answers."""
    doc = document()
    answers = doc["paths"][template][method.lower()]["responses"]
    assert str(reply.status_code) in answers, f"{reply.status_code} is not documented"
    schema = answers[str(reply.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    problems = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(reply.json())
    ]
    assert problems == [], problems


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the function writes during the test, as JSON text."""
    stream = io.StringIO()
    configure(fmt="json", level="debug", stream=stream, force=True)
    yield stream
    configure(force=True)


# --- public routes ---------------------------------------------------------------------------


def test_health_answers_without_a_key(api: Api) -> None:
    reply = api.request("GET", "/v1/health", key=None)

    assert reply.status_code == 200
    assert reply.json()["ok"] is True
    assert reply.json()["service"] == "elbsync"
    documented(reply, "GET", "/v1/health")


def test_the_openapi_document_served_is_the_committed_one(api: Api) -> None:
    reply = api.request("GET", "/v1/openapi.json", key=None)

    assert reply.status_code == 200
    assert reply.json() == document()
    assert {r for r in reply.json()["paths"]} >= {MEMBERS, ADD, CHECK_JOB, OPERATION, WAITS}


# --- members ---------------------------------------------------------------------------------


def test_listing_members_shows_their_health_and_whether_elbsync_owns_them(api: Api) -> None:
    added = api.request("POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]})
    assert added.status_code == 200, added.text

    reply = api.request("GET", path(api, MEMBERS))

    assert reply.status_code == 200
    documented(reply, "GET", MEMBERS)
    body = reply.json()
    listed = {(m["address"], m["protocol_port"]): m for m in body["members"]}
    assert body["count"] == 3
    assert set(listed) == set(pool_state(api))
    web_1 = listed[WEB_1]
    assert (web_1["name"], web_1["owned"], web_1["operating_status"]) == ("web-1", False, "ONLINE")
    listener = api.functions.emulator.listener_id("listener-http")
    assert web_1["listeners"] == [{"listener_id": listener, "operating_status": "ONLINE"}]
    new = listed[("192.168.1.20", 80)]
    assert new["owned"] is True
    assert new["name"].startswith("elbsync:")
    assert new["operating_status"] == "OFFLINE"  # no server answers at 192.168.1.20


def test_batch_add_applies_and_the_members_are_in_the_pool(api: Api) -> None:
    listener = api.functions.emulator.listener_id("listener-http")
    body = {
        "members": [spec(api, "192.168.1.20", weight=3), spec(api, "192.168.1.10")],
        "listener_ids": [listener],
    }

    reply = api.request("POST", path(api, ADD), json=body)

    assert reply.status_code == 200, reply.text
    documented(reply, "POST", ADD)
    result = reply.json()
    assert (result["ok"], result["status"]) == (True, "applied")
    assert result["counts"] == {"added": 1, "unchanged": 1}
    by_key = rows(reply)
    assert by_key[("192.168.1.20", 80)]["result"] == "added"
    assert by_key[WEB_1]["result"] == "unchanged"
    pool = pool_state(api)
    new = pool[("192.168.1.20", 80)]
    assert new["id"] == by_key[("192.168.1.20", 80)]["member_id"]
    assert (new["weight"], new["name"]) == (3, "elbsync:192.168.1.20:80")
    # A job for the member added, on the listener given; none for the one already there.
    assert len(result["check_jobs"]) == 1
    jobs = waits(api, kind="check_job")
    assert {j["id"] for j in jobs} == set(result["check_jobs"])


def test_batch_remove_at_once_deletes_an_owned_member(api: Api) -> None:
    api.request("POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]})
    assert ("192.168.1.20", 80) in pool_state(api)
    quiet(api)

    reply = api.request("POST", path(api, REMOVE), json={"members": [endpoint("192.168.1.20")]})

    assert reply.status_code == 200, reply.text
    assert [(r["result"], r["address"]) for r in reply.json()["members"]] == [
        ("deleted", "192.168.1.20")
    ]
    assert set(pool_state(api)) == {WEB_1, WEB_2}


def test_batch_remove_with_drain_sets_weight_zero_and_the_poller_deletes_it_later(
    api: Api,
) -> None:
    body = {"members": [endpoint(*WEB_2)], "adopt": True, "drain_seconds": 30}

    reply = api.request("POST", path(api, REMOVE), json=body)

    assert reply.status_code == 200, reply.text
    (row,) = reply.json()["members"]
    assert (row["result"], row["weight"]) == ("draining", 0)
    assert pool_state(api)[WEB_2]["weight"] == 0
    (drain,) = waits(api, kind="drain")
    assert drain["status"] == "draining"

    api.functions.travel(31)
    api.functions.tick()

    assert set(pool_state(api)) == {WEB_1}
    assert waits(api, kind="drain") == []


def test_batch_remove_of_members_already_gone_is_done(api: Api) -> None:
    reply = api.request("POST", path(api, REMOVE), json={"members": [endpoint("192.168.1.99")]})

    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["counts"]) == ("applied", {"not_found": 1})


def test_batch_remove_of_members_elbsync_did_not_create_is_refused_with_422(api: Api) -> None:
    before = pool_state(api)

    reply = api.request("POST", path(api, REMOVE), json={"members": [endpoint(*WEB_2)]})

    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert (body["ok"], body["status"]) == (False, "refused")
    (row,) = body["members"]
    assert row["result"] == "refused"
    assert "adopt" in row["reason"]
    assert pool_state(api) == before


def test_batch_weights_sets_weights_and_reports_unknown_members(api: Api) -> None:
    body = {
        "weights": [{**endpoint(*WEB_1), "weight": 7}, {**endpoint("192.168.1.99"), "weight": 2}]
    }

    reply = api.request("POST", path(api, WEIGHTS), json=body)

    assert reply.status_code == 200, reply.text
    assert reply.json()["counts"] == {"not_found": 1, "reweighted": 1}
    assert rows(reply)[WEB_1]["result"] == "reweighted"
    assert rows(reply)[("192.168.1.99", 80)]["result"] == "not_found"
    assert pool_state(api)[WEB_1]["weight"] == 7


def test_batch_weights_naming_only_unknown_members_is_422(api: Api) -> None:
    body = {"weights": [{**endpoint("192.168.1.99"), "weight": 2}]}

    reply = api.request("POST", path(api, WEIGHTS), json=body)

    assert reply.status_code == 422, reply.text
    assert reply.json()["status"] == "refused"
    assert reply.json()["counts"] == {"not_found": 1}


def test_a_dry_run_returns_the_plan_and_changes_nothing(api: Api) -> None:
    before, sent = pool_state(api), writes(api)
    body = {"members": [endpoint(*WEB_1), spec(api, "192.168.1.20")], "dry_run": True}

    reply = api.request("PUT", path(api, MEMBERS), json=body)

    assert reply.status_code == 200, reply.text
    documented(reply, "PUT", MEMBERS)
    result = reply.json()
    assert (result["status"], result["dry_run"]) == ("planned", True)
    assert result["plan"]["add"] == [{"member": "192.168.1.20:80", "weight": None}]
    assert result["plan"]["keep"] == ["192.168.1.10:80"]
    assert [r["member"] for r in result["plan"]["refused"]] == ["192.168.1.11:80"]
    assert pool_state(api) == before
    assert writes(api) == sent


def test_desired_members_refused_by_every_guard_is_422_and_changes_nothing(api: Api) -> None:
    before, sent = pool_state(api), writes(api)

    reply = api.request("PUT", path(api, MEMBERS), json={"members": []})

    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert (body["ok"], body["status"]) == (False, "refused")
    assert body["counts"] == {"refused": 2}
    assert all("adopt" in r["reason"] for r in body["members"])
    assert pool_state(api) == before
    assert writes(api) == sent


def test_desired_members_with_adopt_replace_members_elbsync_did_not_create(api: Api) -> None:
    body = {"members": [endpoint(*WEB_1), spec(api, "192.168.1.20")], "adopt": True}

    reply = api.request("PUT", path(api, MEMBERS), json=body)

    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "applied"
    results = {key: r["result"] for key, r in rows(reply).items()}
    assert results == {WEB_1: "unchanged", WEB_2: "deleted", ("192.168.1.20", 80): "added"}
    assert set(pool_state(api)) == {WEB_1, ("192.168.1.20", 80)}


def test_the_last_serving_member_stays_unless_forced(api: Api) -> None:
    body: dict[str, Any] = {"members": [], "adopt": True, "max_remove_share": 1}

    first = api.request("PUT", path(api, MEMBERS), json=body)

    assert first.status_code == 200, first.text
    assert {key: r["result"] for key, r in rows(first).items()} == {
        WEB_1: "refused",
        WEB_2: "deleted",
    }
    assert "force" in rows(first)[WEB_1]["reason"]
    assert set(pool_state(api)) == {WEB_1}
    quiet(api)

    forced = api.request("PUT", path(api, MEMBERS), json={**body, "force": True})

    assert forced.status_code == 200, forced.text
    assert {key: r["result"] for key, r in rows(forced).items()} == {WEB_1: "deleted"}
    assert pool_state(api) == {}


# --- answered 202, resumed by polling --------------------------------------------------------


def test_a_change_past_the_sync_budget_is_202_and_its_operation_resolves(api: Api) -> None:
    api.functions.env(ELBSYNC_API_SYNC_SECONDS=NO_TIME)
    body = {"members": [spec(api, "192.168.1.20", weight=4)]}

    accepted = api.request("POST", path(api, ADD), json=body)

    assert accepted.status_code == 202, accepted.text
    operation_id = accepted.json()["operation_id"]
    assert accepted.headers["Location"] == path(api, OPERATION, operation_id=operation_id)
    assert int(accepted.headers["Retry-After"]) >= 1
    assert accepted.json()["status"] == "queued"
    assert [r["result"] for r in accepted.json()["members"]] == ["queued"]
    documented(accepted, "POST", ADD)
    (intent,) = waits(api, kind="write_intent")
    assert intent["pools"] == [api.pool("pool-web")]
    assert ("192.168.1.20", 80) not in pool_state(api)
    api.functions.env(ELBSYNC_API_SYNC_SECONDS="3")  # each poll resumes it with this budget

    final = settle(api, accepted)

    assert final.status_code == 200, final.text
    assert (final.json()["status"], final.json()["operation_id"]) == ("applied", operation_id)
    (row,) = final.json()["members"]
    assert row["result"] == "added"
    assert pool_state(api)[("192.168.1.20", 80)]["id"] == row["member_id"]
    documented(final, "GET", OPERATION)
    again = api.request("GET", accepted.headers["Location"])
    assert again.json() == final.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert waits(api, kind="write_intent") == []


def test_a_queued_change_the_poller_sent_is_reported_applied(api: Api) -> None:
    api.functions.env(ELBSYNC_API_SYNC_SECONDS=NO_TIME)
    accepted = api.request("POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]})
    assert accepted.status_code == 202, accepted.text

    assert api.functions.tick()["ok"] is True
    reply = api.request("GET", accepted.headers["Location"])

    assert reply.status_code == 200, reply.text
    assert [r["result"] for r in reply.json()["members"]] == ["added"]
    assert ("192.168.1.20", 80) in pool_state(api)


def test_an_unknown_operation_is_404(api: Api) -> None:
    done = api.request("POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]})
    operation_id = done.json()["operation_id"]

    for unknown in (
        path(api, OPERATION, operation_id="0" * 64),
        path(api, OPERATION, operation_id="not-an-operation"),
        path(api, OPERATION, "pool-api", operation_id=operation_id),
    ):
        reply = api.request("GET", unknown)
        assert reply.status_code == 404, (unknown, reply.text)
        assert error_of(reply)["code"] == "operation_not_found"
        documented(reply, "GET", OPERATION)
    assert api.request("GET", path(api, OPERATION, operation_id=operation_id)).status_code == 200


# --- check jobs ------------------------------------------------------------------------------


def start_check(api: Api, member_id: str) -> httpx.Response:
    listener = api.functions.emulator.listener_id("listener-http")
    body = {"member_id": member_id, "listener_id": listener}
    return api.request("POST", path(api, CHECK_JOBS), json=body)


def finished_check(api: Api, location: str) -> dict[str, Any]:
    """GET the job until it is processed; the clock travels past each poll delay."""
    for _ in range(5):
        api.functions.travel(6)  # the first poll waits 5 s; ELB takes 2 s
        reply = api.request("GET", location)
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] not in ("pending", "processing"):
            body: dict[str, Any] = reply.json()
            return body
    raise AssertionError(f"check job never finished: {reply.text}")


def test_a_check_job_on_a_healthy_member_passes(api: Api) -> None:
    web_1 = pool_state(api)[WEB_1]["id"]

    started = start_check(api, web_1)

    assert started.status_code == 201, started.text
    documented(started, "POST", CHECK_JOBS)
    job_id = started.json()["job_id"]
    location = started.headers["Location"]
    assert location == path(api, CHECK_JOB, job_id=job_id)
    pending = api.request("GET", location)
    assert (pending.json()["status"], pending.json()["passed"]) == ("pending", None)
    documented(pending, "GET", CHECK_JOB)

    job = finished_check(api, location)

    assert (job["status"], job["passed"], job["findings"]) == ("processed", True, [])
    assert job["member_id"] == web_1
    assert job["finished_at"] is not None


@pytest.mark.parametrize(
    ("address", "subnet", "group", "blocker"),
    [
        # web-4-closed-sg only lets SSH in, so health checks on port 80 are blocked.
        ("192.168.1.13", "subnet-app", "security_group", "sg-closed"),
        # web-5-locked-acl sits in subnet-locked, whose network ACL lets in only 443 and ICMP.
        ("192.168.2.10", "subnet-locked", "acl", "acl-locked"),
    ],
    ids=["closed-security-group", "locked-network-acl"],
)
def test_a_check_job_on_a_member_the_network_blocks_renders_its_findings(
    api: Api, address: str, subnet: str, group: str, blocker: str
) -> None:
    emulator = api.functions.emulator
    member = {**endpoint(address), "subnet_cidr_id": emulator.subnet_id(subnet)}
    added = api.request("POST", path(api, ADD), json={"members": [member]})
    (row,) = added.json()["members"]

    started = start_check(api, row["member_id"])
    job = finished_check(api, started.headers["Location"])

    assert (job["status"], job["passed"]) == ("processed", False)
    majors = [f for f in job["findings"] if f["severity"] == "Major"]
    assert [f["group"] for f in majors] == [group], job
    blocker_id = (
        emulator.security_group_id(blocker)
        if group == "security_group"
        else emulator.network_acl_id(blocker)
    )
    # Rendered from ELB's template and parameters: the port and the rule set that blocks it.
    assert blocker_id in majors[0]["reason"]
    assert "port 80 " in majors[0]["reason"]
    assert "{$" not in majors[0]["reason"]


def test_unknown_check_jobs_and_members_outside_the_pool_are_404(api: Api) -> None:
    started = start_check(api, pool_state(api)[WEB_1]["id"])
    job_id = started.json()["job_id"]
    protected = pool_state(api, "pool-protected")[("192.168.1.10", 8082)]["id"]

    for location in (
        path(api, CHECK_JOB, job_id=str(uuid.uuid4())),
        path(api, CHECK_JOB, job_id="not a job"),
        path(api, CHECK_JOB, "pool-api", job_id=job_id),
    ):
        reply = api.request("GET", location)
        assert reply.status_code == 404, (location, reply.text)
        assert error_of(reply)["code"] == "not_found"
        documented(reply, "GET", CHECK_JOB)
    outside = start_check(api, protected)
    assert outside.status_code == 404, outside.text
    assert error_of(outside)["field"] == "body.member_id"


# --- waits -----------------------------------------------------------------------------------


@pytest.fixture
def waiting(api: Api) -> dict[str, Any]:
    """Two check jobs in pool-web and one in pool-api, a drain in pool-web, a queued write in
    pool-api, and two check jobs in pool-static (not allowed) started by member_events."""
    emulator = api.functions.emulator
    web_jobs = api.request(
        "POST",
        path(api, ADD),
        json={
            "members": [spec(api, "192.168.1.20"), spec(api, "192.168.1.21")],
            "listener_ids": [emulator.listener_id("listener-http")],
        },
    )
    quiet(api)
    api_jobs = api.request(
        "POST",
        path(api, ADD, "pool-api"),
        json={
            "members": [spec(api, "192.168.1.22", 8080)],
            "listener_ids": [emulator.listener_id("listener-api")],
        },
    )
    quiet(api)
    drain = api.request(
        "POST",
        path(api, REMOVE),
        json={"members": [endpoint(*WEB_2)], "adopt": True, "drain_seconds": 60},
    )
    quiet(api)
    static = api.functions.invoke("member_events", load_event("member_events/cloudevent_register"))
    api.functions.env(ELBSYNC_API_SYNC_SECONDS=NO_TIME)
    queued = api.request(
        "POST", path(api, ADD, "pool-api"), json={"members": [spec(api, "192.168.1.23", 8080)]}
    )
    api.functions.env(ELBSYNC_API_SYNC_SECONDS="3")
    assert [r.status_code for r in (web_jobs, api_jobs, drain, queued)] == [200, 200, 200, 202]
    return {
        "web_jobs": set(web_jobs.json()["check_jobs"]),
        "api_jobs": set(api_jobs.json()["check_jobs"]),
        "static_jobs": set(static["events"][0]["result"]["check_jobs"]),
    }


def test_waits_are_filtered_by_kind_pool_status_and_the_allow_list(
    api: Api, waiting: dict[str, Any]
) -> None:
    every = waits(api)

    assert Counter(item["kind"] for item in every) == {
        "check_job": 3,
        "drain": 1,
        "write_intent": 1,
    }
    jobs = {item["id"] for item in waits(api, kind="check_job")}
    assert jobs == waiting["web_jobs"] | waiting["api_jobs"]
    in_api = waits(api, pool_id=api.pool("pool-api"))
    assert {(item["kind"], item["status"]) for item in in_api} == {
        ("check_job", "pending"),
        ("write_intent", "queued"),
    }
    assert [item["kind"] for item in waits(api, status="draining")] == ["drain"]
    assert waits(api, kind="drain", status="pending") == []
    web_jobs = waits(api, kind="check_job", pool_id=api.pool("pool-web"))
    assert {item["id"] for item in web_jobs} == waiting["web_jobs"]
    # pool-static's jobs are not listed, nor may that pool be asked for, until it is allowed.
    assert {item["id"] for item in every}.isdisjoint(waiting["static_jobs"])
    static = api.request("GET", WAITS, params={"pool_id": api.pool("pool-static")})
    assert static.status_code == 403, static.text
    api.functions.env(ELBSYNC_API_POOLS="*")
    assert waiting["static_jobs"] <= {item["id"] for item in waits(api)}


def walk(api: Api, limit: int, **query: str) -> list[str]:
    """The ids of every page of ``/v1/waits``, following next_cursor (bounded)."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        params = {**query, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = api.request("GET", WAITS, params=params)
        assert page.status_code == 200, page.text
        documented(page, "GET", WAITS)
        assert len(page.json()["items"]) <= limit
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError(f"still more pages after 20: {seen}")


def test_waits_pages_walk_every_item_exactly_once(api: Api, waiting: dict[str, Any]) -> None:
    every = [item["id"] for item in waits(api)]
    assert len(every) == 5

    for limit, query in (
        (1, {}),
        (2, {}),
        (4, {}),
        (1, {"kind": "check_job"}),
        (1, {"pool_id": api.pool("pool-web")}),
    ):
        wanted = [item["id"] for item in waits(api, **query)]
        assert walk(api, limit, **query) == wanted, (limit, query)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "201"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"cursor": "not a cursor!"}, "query.cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'["drain"]').decode()}, "query.cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'["nope","x"]').decode()}, "query.cursor"),
        ({"kind": "lease"}, "query.kind"),
    ],
    ids=[
        "limit-zero",
        "limit-too-big",
        "limit-not-a-number",
        "cursor-garbage",
        "cursor-wrong-shape",
        "cursor-unknown-kind",
        "unknown-kind",
    ],
)
def test_bad_wait_queries_are_400_naming_the_parameter(
    api: Api, query: dict[str, str], field: str
) -> None:
    reply = api.request("GET", WAITS, params=query)

    assert reply.status_code == 400, reply.text
    assert error_of(reply)["field"] == field
    documented(reply, "GET", WAITS)


# --- Idempotency-Key -------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_get_the_same_reply_once_applied(api: Api) -> None:
    body = {"members": [spec(api, "192.168.1.20")]}
    headers = {"Idempotency-Key": "deploy-42"}

    first = api.request("POST", path(api, ADD), json=body, headers=headers)
    sent = writes(api)
    second = api.request("POST", path(api, ADD), json=body, headers=headers)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert writes(api) == sent
    assert ("192.168.1.20", 80) in pool_state(api)


def test_the_same_idempotency_key_with_another_body_is_422(api: Api) -> None:
    headers = {"Idempotency-Key": "deploy-43"}
    api.request(
        "POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]}, headers=headers
    )

    other = api.request(
        "POST", path(api, ADD), json={"members": [spec(api, "192.168.1.21")]}, headers=headers
    )

    assert other.status_code == 422, other.text
    assert error_of(other)["code"] == "idempotency_key_reused"
    documented(other, "POST", ADD)
    assert ("192.168.1.21", 80) not in pool_state(api)


def test_a_retry_while_the_first_request_still_works_is_409_then_gets_its_reply(
    api: Api,
) -> None:
    lb = api.functions.emulator.load_balancer_id("lb-web")
    api.functions.emulator.admin("POST", f"load_balancers/{lb}/busy", {"seconds": 1.5})
    body = {"members": [spec(api, "192.168.1.20")]}
    headers = {"Idempotency-Key": "deploy-44"}

    with ThreadPoolExecutor(max_workers=1) as thread:
        first = thread.submit(api.request, "POST", path(api, ADD), json=body, headers=headers)
        time.sleep(0.3)  # the first has claimed the key and waits for the busy balancer
        during = api.request("POST", path(api, ADD), json=body, headers=headers)
        original = settle(api, first.result())

    assert during.status_code == 409, during.text
    assert error_of(during)["code"] == "event_in_progress"
    assert int(during.headers["Retry-After"]) >= 1
    documented(during, "POST", ADD)
    after = api.request("POST", path(api, ADD), json=body, headers=headers)
    assert original.status_code == after.status_code == 200
    assert after.json() == original.json()
    assert set(pool_state(api)) == {WEB_1, WEB_2, ("192.168.1.20", 80)}


def test_an_idempotency_key_too_long_is_400(api: Api) -> None:
    reply = api.request(
        "POST",
        path(api, ADD),
        json={"members": [spec(api, "192.168.1.20")]},
        headers={"Idempotency-Key": "k" * 129},
    )

    assert reply.status_code == 400, reply.text
    assert error_of(reply)["field"] == "headers.idempotency-key"


# --- the envelope ----------------------------------------------------------------------------


def test_unknown_routes_are_404_and_wrong_methods_405_before_any_key_is_asked(api: Api) -> None:
    unknown = api.request("GET", "/v1/pools", key=None)
    wrong = api.request("DELETE", path(api, MEMBERS), key=None)
    post_health = api.request("POST", "/v1/health", key=None)

    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "route_not_found"
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, PUT"
    assert error_of(wrong)["code"] == "method_not_allowed"
    assert (post_health.status_code, post_health.headers["Allow"]) == (405, "GET")
    documented(wrong, "GET", MEMBERS)
    documented(post_health, "GET", "/v1/health")


def test_a_body_over_one_mebibyte_is_413(api: Api) -> None:
    members = [spec(api, "192.168.1.20")] * 12000  # about 1.3 MB of JSON

    reply = api.request(
        "POST",
        path(api, ADD),
        content=json.dumps({"members": members}),
        headers={"Content-Type": "application/json"},
    )

    assert reply.status_code == 413, reply.text
    assert error_of(reply)["code"] == "body_too_large"
    documented(reply, "POST", ADD)


def test_a_body_that_is_not_declared_json_is_415(api: Api) -> None:
    body = json.dumps({"members": [spec(api, "192.168.1.20")]})

    reply = api.request(
        "POST", path(api, ADD), content=body, headers={"Content-Type": "text/plain"}
    )

    assert reply.status_code == 415, reply.text
    assert error_of(reply)["code"] == "unsupported_media_type"
    documented(reply, "POST", ADD)
    assert ("192.168.1.20", 80) not in pool_state(api)


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[]", b'"members"'], ids=["broken", "empty", "array", "string"]
)
def test_a_body_that_is_not_a_json_object_is_400(api: Api, content: bytes) -> None:
    reply = api.request(
        "POST", path(api, ADD), content=content, headers={"Content-Type": "application/json"}
    )

    assert reply.status_code == 400, reply.text
    assert error_of(reply)["field"] == "body"


def test_schema_errors_list_every_refused_field(api: Api) -> None:
    body = {
        "members": [{"address": "not-an-ip", "protocol_port": 0}, {"address": "192.168.1.20"}],
        "listener_ids": "listener-http",
        "colour": "blue",
    }

    reply = api.request("POST", path(api, ADD), json=body)

    assert reply.status_code == 400, reply.text
    documented(reply, "POST", ADD)
    error = error_of(reply)
    fields = [f["field"] for f in error["fields"]]
    assert set(fields) >= {
        "body.members[0].address",
        "body.members[0].protocol_port",
        "body.members[1].protocol_port",
        "body.listener_ids",
        "body.colour",
    }
    assert error["field"] == fields[0]


def test_the_pool_given_by_the_path_may_not_be_repeated_in_the_body(api: Api) -> None:
    body = {"pool_id": api.pool("pool-api"), "members": [spec(api, "192.168.1.20")]}

    reply = api.request("POST", path(api, ADD), json=body)

    assert reply.status_code == 400, reply.text
    assert error_of(reply)["field"] == "body.pool_id"
    assert ("192.168.1.20", 80) not in pool_state(api, "pool-api")


def test_bodies_apig_hands_over_base64_encoded_are_decoded(api: Api) -> None:
    handler = load_handler("http_api", REPO / "functions")
    body = {"weights": [{**endpoint(*WEB_1), "weight": 9}]}
    headers = {"X-Api-Key": api.key}
    with (
        ApiServer(handler, base64_body=True) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        reply = client.post(path(api, WEIGHTS), json=body, headers=headers)
        plain = client.post(
            path(api, WEIGHTS),
            content=json.dumps(body),
            headers={**headers, "Content-Type": "text/plain"},
        )

    assert reply.status_code == 200, reply.text
    assert rows(reply)[WEB_1]["result"] == "reweighted"
    assert pool_state(api)[WEB_1]["weight"] == 9
    assert plain.status_code == 415


def test_the_handler_answers_apig_events_directly_in_apig_shape(api: Api) -> None:
    headers = {"X-Api-Key": api.key, "Content-Type": "application/json"}
    body = json.dumps({"weights": [{**endpoint(*WEB_1), "weight": 6}]}).encode()
    event = apig_event("POST", path(api, WEIGHTS), headers, body, base64_body=True)
    assert event["isBase64Encoded"] is True
    context = event["requestContext"]
    assert isinstance(context, dict)
    request_id = context["requestId"]

    reply = api.functions.invoke("http_api", event)

    assert reply["statusCode"] == 200, reply
    assert reply["isBase64Encoded"] is False
    assert reply["headers"] == {"Content-Type": "application/json", "X-Request-Id": request_id}
    assert json.loads(reply["body"])["counts"] == {"reweighted": 1}
    assert pool_state(api)[WEB_1]["weight"] == 6

    false_base64 = {**event, "body": "this is not base64!"}
    refused = api.functions.invoke("http_api", false_base64)
    assert refused["statusCode"] == 400
    assert json.loads(refused["body"])["error"]["field"] == "body"

    not_apig = api.functions.invoke("http_api", {"detail": "a timer, not a request"})
    assert not_apig["statusCode"] == 400
    assert json.loads(not_apig["body"])["ok"] is False


def test_the_base_path_is_taken_off_and_put_back_in_locations(api: Api) -> None:
    api.functions.env(ELBSYNC_API_BASE_PATH="/elbsync")

    health = api.request("GET", "/elbsync/v1/health", key=None)
    started = api.request(
        "POST",
        f"/elbsync{path(api, CHECK_JOBS)}",
        json={
            "member_id": pool_state(api)[WEB_1]["id"],
            "listener_id": api.functions.emulator.listener_id("listener-http"),
        },
    )

    assert health.status_code == 200
    assert started.status_code == 201, started.text
    location = started.headers["Location"]
    assert location == f"/elbsync{path(api, CHECK_JOB, job_id=started.json()['job_id'])}"
    assert api.request("GET", location).status_code == 200
    assert api.request("GET", "/elbsync/v1/nothing").status_code == 404


def test_every_reply_is_json_with_the_request_id(api: Api) -> None:
    for method, target, key in (
        ("GET", "/v1/health", None),
        ("GET", path(api, MEMBERS), ""),
        ("GET", path(api, MEMBERS), None),
        ("GET", "/v1/nothing", ""),
        ("GET", WAITS, ""),
    ):
        reply = api.request(method, target, key=key)
        assert reply.headers["Content-Type"] == "application/json", target
        assert len(reply.headers["X-Request-Id"]) == 32  # the adapter's APIG request id
        if reply.status_code >= 400:
            assert reply.json()["request_id"] == reply.headers["X-Request-Id"]


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Api-Key": new_key()[0]},
        {"X-Api-Key": "k" * 300},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["no-key", "unknown-key", "overlong-key", "basic-auth", "empty-bearer"],
)
def test_a_missing_or_wrong_key_is_401(api: Api, headers: dict[str, str]) -> None:
    reply = api.request("GET", path(api, MEMBERS), key=None, headers=headers)

    assert reply.status_code == 401, reply.text
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(reply)["code"] == "unauthorized"
    documented(reply, "GET", MEMBERS)


def test_a_key_given_as_a_bearer_token_is_accepted(api: Api) -> None:
    reply = api.request(
        "GET", path(api, MEMBERS), key=None, headers={"Authorization": f"Bearer {api.key}"}
    )

    assert reply.status_code == 200, reply.text
    assert reply.json()["count"] == 2


def test_pools_outside_the_allow_list_get_the_same_403_whether_they_exist_or_not(
    api: Api,
) -> None:
    existing, made_up = api.pool("pool-static"), str(uuid.uuid4())

    def refusal(pool_id: str, method: str, template: str, **kwargs: Any) -> tuple[Any, ...]:
        target = template.format(pool_id=pool_id, job_id="j", operation_id="o")
        reply = api.request(method, target, **kwargs)
        assert reply.status_code == 403, reply.text
        documented(reply, method, template)
        body = reply.json()
        request_id = body.pop("request_id")
        headers = {k: v for k, v in reply.headers.items() if k not in ("x-request-id", "date")}
        return reply.status_code, headers, body, reply.content.replace(request_id.encode(), b"")

    for method, template, kwargs in (
        ("GET", MEMBERS, {}),
        ("PUT", MEMBERS, {"json": {"members": "not even a list"}}),
        ("POST", ADD, {"content": b"{broken", "headers": {"Content-Type": "text/plain"}}),
        ("POST", CHECK_JOBS, {"json": {}}),
        ("GET", CHECK_JOB, {}),
        ("GET", OPERATION, {}),
    ):
        assert refusal(existing, method, template, **kwargs) == refusal(
            made_up, method, template, **kwargs
        ), template
    assert pool_state(api, "pool-static") == {}


def test_an_allowed_pool_elb_does_not_know_is_404(api: Api) -> None:
    api.functions.env(ELBSYNC_API_POOLS="*")

    reply = api.request("GET", MEMBERS.format(pool_id=str(uuid.uuid4())))

    assert reply.status_code == 404, reply.text
    assert error_of(reply)["code"] == "not_found"
    documented(reply, "GET", MEMBERS)


def test_apig_auth_lets_a_request_without_a_key_through(api: Api) -> None:
    api.functions.env(ELBSYNC_API_AUTH="apig")

    reply = api.request("GET", path(api, MEMBERS), key=None)
    static = api.request("GET", path(api, MEMBERS, "pool-static"), key=None)

    assert reply.status_code == 200, reply.text
    assert static.status_code == 403  # the allow-list still holds


def test_key_auth_with_no_key_configured_is_a_config_error(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELBSYNC_API_KEYS")
    api.functions.env()

    reply = api.request("GET", path(api, MEMBERS))

    assert reply.status_code == 500, reply.text
    error = error_of(reply)
    assert error["code"] == "config_error"
    assert "ELBSYNC_API_KEYS" in error["message"]
    documented(reply, "GET", MEMBERS)
    assert api.request("GET", "/v1/health", key=None).status_code == 200


def test_the_api_key_never_appears_in_logs_or_replies(api: Api, logs: io.StringIO) -> None:
    wrong = new_key()[0]
    replies = [
        api.request("GET", path(api, MEMBERS)),
        api.request(
            "GET", path(api, MEMBERS), key=None, headers={"Authorization": f"Bearer {api.key}"}
        ),
        api.request("POST", path(api, ADD), json={"members": [spec(api, "192.168.1.20")]}),
        api.request("POST", path(api, ADD), json={"members": "x"}),
        api.request("GET", path(api, MEMBERS), key=wrong),
        api.request("GET", path(api, MEMBERS, "pool-static")),
        api.request("GET", WAITS),
    ]

    assert [r.status_code for r in replies] == [200, 200, 200, 400, 401, 403, 200]
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    answered = [line["status"] for line in lines if line["event"] == "http_request_answered"]
    refused = [line["error"]["code"] for line in lines if line["event"] == "http_request_refused"]
    assert answered == [200, 200, 200, 200]
    assert refused == ["invalid_input", "unauthorized", "forbidden"]
    for secret in (api.key, wrong):
        assert secret not in logs.getvalue()
        for reply in replies:
            assert secret not in reply.text
            assert all(secret not in value for value in reply.headers.values())


# --- the cloud's behaviour -------------------------------------------------------------------


def test_concurrent_batch_adds_to_one_pool_all_end_with_every_member_once(api: Api) -> None:
    addresses = [f"192.168.1.{30 + i}" for i in range(8)]

    def add(i: int) -> httpx.Response:
        # Each member is asked for by two requests at once.
        pair = [spec(api, addresses[i]), spec(api, addresses[(i + 1) % len(addresses)])]
        return settle(api, api.request("POST", path(api, ADD), json={"members": pair}))

    with ThreadPoolExecutor(max_workers=len(addresses)) as threads:
        replies = list(threads.map(add, range(len(addresses))))

    assert [r.status_code for r in replies] == [200] * len(addresses), [r.text for r in replies]
    pool = pool_state(api)
    assert set(pool) == {WEB_1, WEB_2} | {(a, 80) for a in addresses}
    reported: dict[str, set[str]] = {address: set() for address in addresses}
    for reply in replies:
        assert reply.json()["status"] == "applied"
        for row in reply.json()["members"]:
            # Two requests for one member may share its add (both say added) or not.
            assert row["result"] in ("added", "existed", "unchanged"), row
            reported[row["address"]].add(row["member_id"])
    assert reported == {address: {pool[(address, 80)]["id"]} for address in addresses}


@pytest.mark.parametrize(
    "fault",
    [
        {"operation": "elb.batch_add", "kind": "throttle"},
        {"operation": "elb.batch_add", "kind": "error", "status": 500},
        {"operation": "elb.list_members", "kind": "error", "status": 503},
    ],
    ids=["add-throttled", "add-500", "list-503"],
)
def test_an_elb_fault_is_503_or_queued_and_a_retry_with_the_same_key_completes(
    api: Api, fault: dict[str, Any]
) -> None:
    api.functions.env(ELBSYNC_API_SYNC_SECONDS="1")
    api.functions.emulator.add_fault(**fault)
    body = {"members": [spec(api, "192.168.1.20")]}
    headers = {"Idempotency-Key": "release-7"}

    during = api.request("POST", path(api, ADD), json=body, headers=headers)

    assert during.status_code in (202, 503), during.text
    documented(during, "POST", ADD)
    if during.status_code == 503:
        assert int(during.headers["Retry-After"]) >= 1
        assert error_of(during)["code"]
    else:
        assert during.headers["Location"]
        assert [item["kind"] for item in waits(api)] == ["write_intent"]  # kept, not lost
    assert ("192.168.1.20", 80) not in pool_state(api)

    api.functions.emulator.admin("DELETE", "faults")
    retried = settle(api, api.request("POST", path(api, ADD), json=body, headers=headers))

    assert retried.status_code == 200, retried.text
    assert [r["result"] for r in retried.json()["members"]] == ["added"]
    assert set(pool_state(api)) == {WEB_1, WEB_2, ("192.168.1.20", 80)}
    assert waits(api) == []


# --- the published document ------------------------------------------------------------------


def test_rows_without_a_member_id_still_carry_the_fields_the_document_requires(
    api: Api,
) -> None:
    body = {
        "weights": [{**endpoint("192.168.1.99"), "weight": 2}, {**endpoint(*WEB_1), "weight": 3}]
    }

    reply = api.request("POST", path(api, WEIGHTS), json=body)

    assert reply.status_code == 200, reply.text
    unknown = rows(reply)[("192.168.1.99", 80)]
    assert unknown["result"] == "not_found"
    assert "member_id" in unknown
    assert unknown["member_id"] is None
    documented(reply, "POST", WEIGHTS)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status": 409, "error_code": "ELB.8907", "next_calls": 4},
        {"kind": "error", "status": 503, "retry_after_s": 10, "next_calls": 3},
    ],
    ids=["busy-4-times", "503-retry-after-10"],
)
def test_a_busy_or_slow_balancer_gets_an_answer_within_the_budget_and_nothing_is_lost(
    api: Api, fault: dict[str, Any]
) -> None:
    api.functions.env(ELBSYNC_API_SYNC_SECONDS="1")
    api.functions.emulator.add_fault(operation="elb.batch_update", **fault)
    body = {"weights": [{**endpoint(*WEB_1), "weight": 7}]}

    started = time.monotonic()
    reply = api.request("POST", path(api, WEIGHTS), json=body)
    took = time.monotonic() - started

    # The budget (1 s) plus the 2 s a change may take beyond it, plus the adapter's own time.
    assert took < 3.5, f"{took:.1f} s"
    assert reply.status_code in (200, 202, 503), reply.text
    api.functions.emulator.admin("DELETE", "faults")
    api.functions.env(ELBSYNC_API_SYNC_SECONDS="3")
    if reply.status_code == 202:
        reply = settle(api, reply)
    elif reply.status_code == 503:
        reply = api.request("POST", path(api, WEIGHTS), json=body)
    assert reply.status_code == 200, reply.text
    assert pool_state(api)[WEB_1]["weight"] == 7
