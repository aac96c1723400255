"""The admin API under ``/_emulator/``: no authentication, never counted, never faulted.

Tests and the demo use it to inject faults, read call counts and a snapshot of every pool,
advance the virtual clock, change the world (stop a server, tighten a security group), run
Auto Scaling activities and read every lifecycle action with its decisions. docs/emulator.md
lists every path with its body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, ValidationError

from elbsync.devkit.emulator import autoscaling, elb
from elbsync.devkit.emulator.autoscaling import AdminError
from elbsync.devkit.emulator.clock import VirtualClock, iso
from elbsync.devkit.emulator.cloud import Cloud
from elbsync.devkit.emulator.faults import FaultBook
from elbsync.devkit.emulator.replies import JsonObject
from elbsync.devkit.emulator.world import (
    AclRule,
    FaultSpec,
    NetworkAcl,
    SecurityGroup,
    SecurityGroupRule,
    World,
)

__all__ = ["PREFIX", "Controls", "Handler", "handle"]

PREFIX = "/_emulator"


class Controls(Protocol):
    cloud: Cloud
    faults: FaultBook
    clock: VirtualClock

    def reset(self, world: World | None = None) -> None: ...


Handler = Callable[[Controls, dict[str, str], JsonObject, dict[str, str]], JsonObject]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        regex = re.compile("^" + PREFIX + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")
        _ROUTES.append((method, regex, handler))
        return handler

    return register


def handle(
    controls: Controls, method: str, path: str, query: dict[str, str], body: bytes
) -> tuple[int, JsonObject]:
    """Serve one admin request; (status, JSON body)."""
    known_path = False
    for route_method, regex, handler in _ROUTES:
        match = regex.match(path)
        if match is None:
            continue
        known_path = True
        if route_method != method:
            continue
        try:
            document = _body(body)
            with controls.cloud.lock:
                return 200, handler(controls, match.groupdict(), document, query)
        except AdminError as exc:
            return exc.status, {"error": exc.message}
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return 400, {"error": f"{where}: {first['msg']}" if where else first["msg"]}
    if known_path:
        return 405, {"error": f"{method} is not allowed on {path}"}
    return 404, {"error": f"no admin endpoint {path}"}


def _body(raw: bytes) -> JsonObject:
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise AdminError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise AdminError(400, "body must be a JSON object")
    return document


def _number(body: JsonObject, name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise AdminError(400, f"{name} must be a number of seconds, zero or more")
    return float(value)


def _clock_view(controls: Controls) -> JsonObject:
    now = controls.clock.now()
    return {"now": iso(now), "epoch": now, "offset_s": controls.clock.offset}


@_route("GET", "/health")
def _health(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return {"status": "ok"}


@_route("GET", "/world")
def _world(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return controls.cloud.world.model_dump(mode="json")


@_route("POST", "/reset")
def _reset(
    controls: Controls, _: dict[str, str], body: JsonObject, __: dict[str, str]
) -> JsonObject:
    world = body.get("world")
    controls.reset(World.model_validate(world) if world is not None else None)
    return {"reset": True, **_clock_view(controls)}


@_route("GET", "/clock")
def _clock(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return _clock_view(controls)


@_route("POST", "/clock/advance")
def _advance(
    controls: Controls, _: dict[str, str], body: JsonObject, __: dict[str, str]
) -> JsonObject:
    controls.clock.advance(_number(body, "seconds"))
    now = controls.clock.now()
    autoscaling.apply_timeouts(controls.cloud, now)
    elb.settle_jobs(controls.cloud, now)
    return _clock_view(controls)


@_route("GET", "/calls")
def _calls(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    counts = controls.faults.counts_view()
    return {"calls": counts, "total": sum(counts.values())}


@_route("DELETE", "/calls")
def _clear_calls(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    controls.faults.clear_counts()
    return {"calls": controls.faults.counts_view(), "total": 0}


@_route("GET", "/requests")
def _requests(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return {"requests": controls.faults.log_view()}


@_route("GET", "/faults")
def _faults(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return {"faults": controls.faults.rules_view()}


@_route("POST", "/faults")
def _add_faults(
    controls: Controls, _: dict[str, str], body: JsonObject, __: dict[str, str]
) -> JsonObject:
    raw = body.get("faults", [body])
    if not isinstance(raw, list) or not raw:
        raise AdminError(400, 'give one fault object, or {"faults": [...]}')
    specs = [FaultSpec.model_validate(item) for item in raw]
    added = [controls.faults.add(spec).view() for spec in specs]
    return {"faults": added}


@_route("DELETE", "/faults")
def _clear_faults(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    return {"removed": controls.faults.remove(None)}


@_route("DELETE", "/faults/{fault_id}")
def _remove_fault(
    controls: Controls, params: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    if not params["fault_id"].isdigit():
        raise AdminError(400, "a fault id is a number")
    removed = controls.faults.remove(int(params["fault_id"]))
    if not removed:
        raise AdminError(404, f"no fault {params['fault_id']}")
    return {"removed": removed}


@_route("GET", "/snapshot")
def _snapshot(
    controls: Controls, _: dict[str, str], __: JsonObject, ___: dict[str, str]
) -> JsonObject:
    cloud = controls.cloud
    return {
        "time": iso(cloud.now()),
        "pools": elb.pools_snapshot(cloud),
        "servers": [
            {
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "addresses": [n.ip_address for n in s.interfaces],
            }
            for s in cloud.servers.values()
        ],
    }


def _server_power(controls: Controls, server_id: str, status: str) -> JsonObject:
    server = controls.cloud.servers.get(server_id)
    if server is None:
        raise AdminError(404, f"server {server_id} does not exist")
    if status == "ACTIVE" and server.status != "ACTIVE":
        server.started_at = controls.cloud.now()
    server.status = "ACTIVE" if status == "ACTIVE" else "SHUTOFF"
    return {"id": server.id, "status": server.status}


@_route("POST", "/servers/{server_id}/stop")
def _stop(
    controls: Controls, params: dict[str, str], _: JsonObject, __: dict[str, str]
) -> JsonObject:
    return _server_power(controls, params["server_id"], "SHUTOFF")


@_route("POST", "/servers/{server_id}/start")
def _start(
    controls: Controls, params: dict[str, str], _: JsonObject, __: dict[str, str]
) -> JsonObject:
    return _server_power(controls, params["server_id"], "ACTIVE")


class _Rules(BaseModel):
    rules: list[SecurityGroupRule]


class _AclRules(BaseModel):
    ingress_rules: list[AclRule]
    egress_rules: list[AclRule]


@_route("PUT", "/security_groups/{group_id}")
def _put_group(
    controls: Controls, params: dict[str, str], body: JsonObject, _: dict[str, str]
) -> JsonObject:
    cloud = controls.cloud
    group = cloud.security_groups.get(params["group_id"])
    if group is None:
        raise AdminError(404, f"security group {params['group_id']} does not exist")
    rules = _Rules.model_validate(body).rules
    cloud.security_groups[group.id] = SecurityGroup(id=group.id, name=group.name, rules=rules)
    return cloud.security_groups[group.id].model_dump(mode="json")


@_route("PUT", "/network_acls/{acl_id}")
def _put_acl(
    controls: Controls, params: dict[str, str], body: JsonObject, _: dict[str, str]
) -> JsonObject:
    cloud = controls.cloud
    acl = cloud.network_acls.get(params["acl_id"])
    if acl is None:
        raise AdminError(404, f"network ACL {params['acl_id']} does not exist")
    rules = _AclRules.model_validate(body)
    cloud.network_acls[acl.id] = NetworkAcl(
        id=acl.id, name=acl.name, ingress_rules=rules.ingress_rules, egress_rules=rules.egress_rules
    )
    return cloud.network_acls[acl.id].model_dump(mode="json")


@_route("DELETE", "/listeners/{listener_id}")
def _delete_listener(
    controls: Controls, params: dict[str, str], _: JsonObject, __: dict[str, str]
) -> JsonObject:
    cloud = controls.cloud
    listener_id = params["listener_id"]
    if listener_id not in cloud.listeners:
        raise AdminError(404, f"listener {listener_id} does not exist")
    elb.settle_jobs(cloud, cloud.now(), listener_ids={listener_id})
    del cloud.listeners[listener_id]
    return {"deleted": listener_id}


@_route("POST", "/load_balancers/{lb_id}/busy")
def _busy(
    controls: Controls, params: dict[str, str], body: JsonObject, _: dict[str, str]
) -> JsonObject:
    cloud = controls.cloud
    lb_id = params["lb_id"]
    if lb_id not in cloud.load_balancers:
        raise AdminError(404, f"load balancer {lb_id} does not exist")
    until = cloud.now() + _number(body, "seconds")
    cloud.busy_until[lb_id] = until
    return {"id": lb_id, "busy_until": iso(until)}


@_route("POST", "/autoscaling/groups/{group_id}/launch")
def _launch(
    controls: Controls, params: dict[str, str], body: JsonObject, _: dict[str, str]
) -> JsonObject:
    return autoscaling.launch(controls.cloud, params["group_id"], body)


@_route("POST", "/autoscaling/groups/{group_id}/terminate")
def _terminate(
    controls: Controls, params: dict[str, str], body: JsonObject, _: dict[str, str]
) -> JsonObject:
    return autoscaling.terminate(controls.cloud, params["group_id"], body)


@_route("GET", "/autoscaling/instances")
def _instances(
    controls: Controls, _: dict[str, str], __: JsonObject, query: dict[str, str]
) -> JsonObject:
    return {"instances": autoscaling.instances_snapshot(controls.cloud, query.get("group_id"))}
