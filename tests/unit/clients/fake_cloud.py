"""A small stateful fake of the ELB, Auto Scaling and ECS APIs for ``httpx.MockTransport``.

It keeps pools and members, answers in the APIs' shapes, and can be told to fail the next
calls with a given status and body, so tests assert on what the fake now holds.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

PROJECT = "0123456789abcdef0123456789abcdef"


@dataclass
class Failure:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


class FakeCloud:
    def __init__(self) -> None:
        self.pools: dict[str, list[dict[str, object]]] = {"pool-1": [], "pool-2": []}
        self.jobs: dict[str, dict[str, object]] = {}
        self.hanging: dict[str, dict[str, str]] = {}
        self.completed: list[dict[str, object]] = []
        self.calls: Counter[str] = Counter()
        self.requests: list[httpx.Request] = []
        self.failures: list[Failure | Exception] = []
        self.bad_addresses: set[str] = set()
        self.delay_s = 0.0
        self.active: Counter[str] = Counter()
        self.peak: dict[str, int] = {}
        self._lock = threading.Lock()
        self.pool_group: dict[str, str] = {}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, *failures: Failure | Exception) -> None:
        self.failures.extend(failures)

    def add_members(self, pool: str, count: int) -> None:
        for n in range(count):
            self.pools[pool].append(_member(f"10.0.{n // 250}.{n % 250 + 1}", 80, 1))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        operation = self._operation(request.method, parts)
        self.calls[operation] += 1
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure.status, json=failure.body, headers=failure.headers)
        body = json.loads(request.content) if request.content else {}
        bad = [m for m in body.get("members", []) if m.get("address") in self.bad_addresses]
        if bad:
            message = f"invalid address {bad[0]['address']}"
            return _reply(400, {"error_code": "ELB.8902", "error_msg": message})
        group = self.pool_group.get(parts[4], parts[4]) if len(parts) > 4 else "-"
        with self._lock:
            self.active[group] += 1
            self.peak[group] = max(self.peak.get(group, 0), self.active[group])
            self.peak["*"] = max(self.peak.get("*", 0), sum(self.active.values()))
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return getattr(self, "_" + operation.replace(".", "_"))(request, parts, body)
        finally:
            with self._lock:
                self.active[group] -= 1

    @staticmethod
    def _operation(method: str, parts: list[str]) -> str:
        if parts[0] == "autoscaling-api":
            return "as.callback" if parts[-1] == "callback" else "as.list_hanging"
        if parts[-1] == "os-interface":
            return "ecs.list_interfaces"
        if parts[-1] == "health-check":
            return "elb.create_check_job"
        if "jobs" in parts:
            return "elb.show_check_job"
        if parts[-1] == "members":
            return "elb.list_members"
        return "elb." + parts[-1].replace("-", "_")

    def _elb_list_members(
        self, request: httpx.Request, parts: list[str], body: object
    ) -> httpx.Response:
        members = self.pools[parts[4]]
        params = request.url.params
        addresses = params.get_list("address")
        selected = [m for m in members if not addresses or m["address"] in addresses]
        limit = int(params.get("limit", "2000"))
        marker = params.get("marker")
        start = next((i + 1 for i, m in enumerate(selected) if m["id"] == marker), 0)
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        page_info: dict[str, object] = {"current_count": len(page)}
        if page:
            page_info["previous_marker"] = page[0]["id"]
        if more:
            page_info["next_marker"] = page[-1]["id"]
        return _reply(200, {"members": page, "page_info": page_info})

    def _elb_batch_add(
        self, request: httpx.Request, parts: list[str], body: dict[str, list[dict[str, object]]]
    ) -> httpx.Response:
        pool = self.pools[parts[4]]
        results = []
        for item in body["members"]:
            existing = next(
                (
                    m
                    for m in pool
                    if (m["address"], m["protocol_port"])
                    == (item["address"], item["protocol_port"])
                ),
                None,
            )
            if existing:
                results.append({**existing, "ret_status": "existed"})
            else:
                member = _member(
                    str(item["address"]),
                    int(str(item["protocol_port"])),
                    int(str(item.get("weight", 1))),
                )
                pool.append(member)
                results.append({**member, "ret_status": "successful"})
        return _reply(201, {"members": results})

    def _elb_batch_update(
        self, request: httpx.Request, parts: list[str], body: dict[str, list[dict[str, object]]]
    ) -> httpx.Response:
        pool = {m["id"]: m for m in self.pools[parts[4]]}
        for item in body["members"]:
            pool[item["id"]].update({k: v for k, v in item.items() if k != "id"})
        return _reply(200, {"members": [pool[item["id"]] for item in body["members"]]})

    def _elb_batch_delete(
        self, request: httpx.Request, parts: list[str], body: dict[str, list[dict[str, object]]]
    ) -> httpx.Response:
        pool = self.pools[parts[4]]
        results = []
        for item in body["members"]:
            found = next(
                (
                    m
                    for m in pool
                    if m["id"] == item.get("id")
                    or (m["address"], m["protocol_port"])
                    == (item.get("address"), item.get("protocol_port"))
                ),
                None,
            )
            if found:
                pool.remove(found)
            results.append(
                {"id": item.get("id"), "ret_status": "successful" if found else "not found"}
            )
        return _reply(200, {"members": results})

    def _elb_create_check_job(
        self, request: httpx.Request, parts: list[str], body: dict[str, dict[str, str]]
    ) -> httpx.Response:
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = {"status": "processing", "member_id": parts[4], **body["member_check"]}
        return _reply(201, {"member_check": {"job_id": job_id}})

    def _elb_show_check_job(
        self, request: httpx.Request, parts: list[str], body: object
    ) -> httpx.Response:
        job = self.jobs.get(parts[-1])
        if job is None:
            return _reply(404, {"error_code": "ELB.8904", "error_msg": "job not found"})
        return _reply(200, {"member_check": job})

    def _as_callback(
        self, request: httpx.Request, parts: list[str], body: dict[str, object]
    ) -> httpx.Response:
        key = body.get("lifecycle_action_key")
        if key not in self.hanging:
            return _reply(400, {"error": {"code": "AS.4100", "message": "not hanging"}})
        self.completed.append(body)
        del self.hanging[str(key)]
        return httpx.Response(204)

    def _as_list_hanging(
        self, request: httpx.Request, parts: list[str], body: object
    ) -> httpx.Response:
        wanted = request.url.params.get("instance_id")
        items = [h for h in self.hanging.values() if wanted in (None, h["instance_id"])]
        return _reply(200, {"instance_hanging_info": items})

    def _ecs_list_interfaces(
        self, request: httpx.Request, parts: list[str], body: object
    ) -> httpx.Response:
        return _reply(
            200,
            {
                "interfaceAttachments": [
                    {
                        "port_state": "ACTIVE",
                        "port_id": "port-" + parts[-2],
                        "net_id": "net-1",
                        "mac_addr": "fa:16:3e:00:00:01",
                        "fixed_ips": [
                            {"subnet_id": "v6-subnet", "ip_address": "2001:db8::5"},
                            {"subnet_id": "subnet-1", "ip_address": "192.168.0.5"},
                        ],
                    }
                ]
            },
        )


def _member(address: str, port: int, weight: int) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "address": address,
        "protocol_port": port,
        "weight": weight,
        "name": "",
        "operating_status": "NO_MONITOR",
        "project_id": PROJECT,
    }


def _reply(status: int, body: dict[str, object]) -> httpx.Response:
    return httpx.Response(status, json={**body, "request_id": uuid.uuid4().hex})
