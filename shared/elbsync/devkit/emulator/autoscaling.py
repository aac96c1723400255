"""Auto Scaling lifecycle hooks: launching and terminating instances that wait for a callback.

A launch or a termination (an admin call; in the cloud a scaling activity) puts the instance in
a wait state with one lifecycle action per matching hook, each ``HANGING`` with its own action
key, and yields the SMN-triggered FunctionGraph event the cloud would deliver per action. The
callback API completes only a ``HANGING`` action; ``EXTEND`` adds an hour; an action still
hanging at its timeout (virtual clock) takes the hook's default result. Every decision is kept,
so a test can prove a decision happened exactly once.
"""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from datetime import datetime, timezone

from elbsync.devkit.emulator.clock import iso
from elbsync.devkit.emulator.cloud import (
    Cloud,
    Decision,
    LifecycleAction,
    ScalingInstance,
    ServerState,
    new_uuid,
)
from elbsync.devkit.emulator.replies import Call, EmulatedApiError, JsonObject, Reply, json_object
from elbsync.devkit.emulator.world import Interface, LifecycleHook, ScalingGroup

__all__ = [
    "EXTEND_SECONDS",
    "NOT_HANGING_CODE",
    "AdminError",
    "apply_timeouts",
    "callback",
    "instance_view",
    "instances_snapshot",
    "launch",
    "list_hanging",
    "smn_event",
    "terminate",
]

EXTEND_SECONDS = 3600
#: Not in the public error table; chosen by the emulator (see docs/emulator.md).
NOT_HANGING_CODE = "AS.4003"
_RESULTS = ("CONTINUE", "ABANDON", "EXTEND")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _failure(status: int, code: str, message: str) -> EmulatedApiError:
    return EmulatedApiError(status, code, message, style="legacy")


def _not_found(what: str) -> EmulatedApiError:
    return _failure(404, "AS.0007", f"The requested resource [{what}] could not be found.")


def _group(cloud: Cloud, call: Call) -> ScalingGroup:
    group_id = call.params["scaling_group_id"]
    group = cloud.scaling_groups.get(group_id)
    if group is None or group.project_id != call.project_id:
        raise _not_found(f"scaling group {group_id}")
    return group


# Time.


def apply_timeouts(cloud: Cloud, now: float) -> None:
    """Give every action still hanging at its timeout the hook's default result."""
    for action in list(cloud.actions.values()):
        if action.status == "HANGING" and action.timeout_at <= now:
            _decide(cloud, action, action.default_result, "timeout", action.timeout_at)


def _decide(cloud: Cloud, action: LifecycleAction, result: str, source: str, at: float) -> None:
    action.decisions.append(Decision(result, "timeout" if source == "timeout" else "callback", at))
    if result == "EXTEND":
        action.timeout_at += EXTEND_SECONDS
        return
    action.status = "CONTINUE" if result == "CONTINUE" else "ABANDON"
    instance = cloud.instances[action.instance_id]
    actions = [cloud.actions[key] for key in instance.action_keys]
    pending = [a for a in actions if a.status == "HANGING" and a.hook_type == action.hook_type]
    if pending:
        return
    if action.hook_type == "INSTANCE_LAUNCHING":
        abandoned = any(a.status == "ABANDON" for a in actions if a.hook_type == action.hook_type)
        if abandoned:
            _remove(cloud, instance)
        else:
            instance.lifecycle_state = "INSERVICE"
    else:
        _remove(cloud, instance)


def _remove(cloud: Cloud, instance: ScalingInstance) -> None:
    instance.lifecycle_state = "REMOVED"
    cloud.servers.pop(instance.instance_id, None)


# The API.


def callback(cloud: Cloud, call: Call) -> Reply:
    group = _group(cloud, call)
    body = json_object(call.body, style="legacy")
    result = body.get("lifecycle_action_result")
    if result not in _RESULTS:
        raise _failure(
            400, "AS.0022", "lifecycle_action_result must be one of CONTINUE, ABANDON, EXTEND"
        )
    now = cloud.now()
    apply_timeouts(cloud, now)
    action = _find_action(cloud, group, body)
    if action.status != "HANGING":
        action.rejected_callbacks += 1
        raise _failure(
            400,
            NOT_HANGING_CODE,
            f"The lifecycle hook of instance {action.instance_id} is not in HANGING state "
            f"(it is {action.status}); the callback is refused.",
        )
    _decide(cloud, action, str(result), "callback", now)
    return Reply(204)


def _find_action(cloud: Cloud, group: ScalingGroup, body: JsonObject) -> LifecycleAction:
    key = body.get("lifecycle_action_key")
    if key is not None:
        if not isinstance(key, str):
            raise _failure(400, "AS.0022", "lifecycle_action_key must be a string")
        action = cloud.actions.get(key)
        if action is None or action.scaling_group_id != group.id:
            raise _not_found(f"lifecycle action key {key}")
        return action
    instance_id = body.get("instance_id")
    hook_name = body.get("lifecycle_hook_name")
    if not isinstance(instance_id, str) or not isinstance(hook_name, str):
        raise _failure(
            400,
            "AS.0022",
            "give lifecycle_action_key, or instance_id and lifecycle_hook_name",
        )
    matches = [
        a
        for a in cloud.actions.values()
        if a.scaling_group_id == group.id
        and a.instance_id == instance_id
        and a.hook_name == hook_name
    ]
    if not matches:
        raise _not_found(f"lifecycle hook {hook_name} of instance {instance_id}")
    hanging = [a for a in matches if a.status == "HANGING"]
    return (hanging or matches)[-1]


def list_hanging(cloud: Cloud, call: Call) -> Reply:
    group = _group(cloud, call)
    apply_timeouts(cloud, cloud.now())
    instance_id = call.query_value("instance_id")
    infos = [
        {
            "instance_id": a.instance_id,
            "scaling_group_id": a.scaling_group_id,
            "lifecycle_hook_name": a.hook_name,
            "lifecycle_action_key": a.key,
            "lifecycle_hook_status": a.status,
            "timeout": iso(a.timeout_at),
            "default_result": a.default_result,
        }
        for a in cloud.actions.values()
        if a.scaling_group_id == group.id
        and a.status == "HANGING"
        and (instance_id is None or a.instance_id == instance_id)
    ]
    return Reply(200, {"instance_hanging_info": infos})


# Admin: scaling activities and what they produce.


def launch(cloud: Cloud, group_id: str, body: JsonObject) -> JsonObject:
    group = _admin_group(cloud, group_id)
    wanted = _launch_requests(body)
    function_name = _function_name(body)
    now = cloud.now()
    apply_timeouts(cloud, now)
    launched: list[JsonObject] = []
    events: list[JsonObject] = []
    for request in wanted:
        server = _new_server(cloud, group, request, now)
        instance = ScalingInstance(server.id, group.id, "INSERVICE")
        cloud.instances[server.id] = instance
        events.extend(_hang(cloud, group, instance, server, "INSTANCE_LAUNCHING", function_name))
        launched.append(instance_view(cloud, instance))
    return {"instances": launched, "events": events}


def terminate(cloud: Cloud, group_id: str, body: JsonObject) -> JsonObject:
    group = _admin_group(cloud, group_id)
    ids = body.get("instance_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise AdminError(400, "instance_ids must be a non-empty array of instance ids")
    function_name = _function_name(body)
    apply_timeouts(cloud, cloud.now())
    for instance_id in ids:
        instance = cloud.instances.get(instance_id)
        if instance is None or instance.scaling_group_id != group.id:
            raise AdminError(404, f"instance {instance_id} is not in scaling group {group.id}")
        if instance.lifecycle_state != "INSERVICE":
            raise AdminError(
                409, f"instance {instance_id} is {instance.lifecycle_state}, not INSERVICE"
            )
    events: list[JsonObject] = []
    terminated: list[JsonObject] = []
    for instance_id in ids:
        instance = cloud.instances[instance_id]
        server = cloud.servers[instance_id]
        events.extend(_hang(cloud, group, instance, server, "INSTANCE_TERMINATING", function_name))
        terminated.append(instance_view(cloud, instance))
    return {"instances": terminated, "events": events}


def _admin_group(cloud: Cloud, group_id: str) -> ScalingGroup:
    group = cloud.scaling_groups.get(group_id)
    if group is None:
        raise AdminError(404, f"scaling group {group_id} does not exist")
    return group


def _function_name(body: JsonObject) -> str:
    name = body.get("function_name", "member_events")
    if not isinstance(name, str) or not name:
        raise AdminError(400, "function_name must be a non-empty string")
    return name


def _launch_requests(body: JsonObject) -> list[JsonObject]:
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise AdminError(400, "instances must be an array of objects")
        return list(instances)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
        raise AdminError(400, "count must be an integer from 1 to 100")
    return [{} for _ in range(count)]


def _new_server(cloud: Cloud, group: ScalingGroup, request: JsonObject, now: float) -> ServerState:
    template = group.instance_template
    subnet = cloud.subnets[template.subnet_id]
    server_id = request.get("instance_id") or new_uuid()
    if not isinstance(server_id, str) or server_id in cloud.servers:
        raise AdminError(409, f"instance id {server_id!r} is not new")
    address = request.get("address") or _free_address(cloud, subnet.cidr)
    if not isinstance(address, str):
        raise AdminError(400, "address must be a string")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise AdminError(400, f"address {address!r} is not an IP address") from None
    if ip not in ipaddress.ip_network(subnet.cidr):
        raise AdminError(400, f"address {address} is not in subnet {subnet.id} ({subnet.cidr})")
    if cloud.server_at(address, subnet.id) is not None:
        raise AdminError(409, f"address {address} is already used")
    name = request.get("name") or f"{template.name_prefix}-{server_id[:8]}"
    server = ServerState(
        id=server_id,
        name=str(name),
        project_id=group.project_id,
        status="ACTIVE",
        interfaces=[
            Interface(
                subnet_id=subnet.id,
                ip_address=str(ip),
                port_id=new_uuid(),
                mac_addr=_mac(),
                security_group_ids=list(template.security_group_ids),
            )
        ],
        listening_ports=template.listening_ports,
        started_at=now,
    )
    cloud.servers[server.id] = server
    return server


def _free_address(cloud: Cloud, cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    used = {
        ipaddress.ip_address(nic.ip_address)
        for server in cloud.servers.values()
        for nic in server.interfaces
    }
    for offset, host in enumerate(network.hosts()):
        if offset >= 99 and host not in used:
            return str(host)
    raise AdminError(409, f"subnet {cidr} has no free address left")


def _mac() -> str:
    tail = [random.randint(0, 255) for _ in range(3)]
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def _hang(
    cloud: Cloud,
    group: ScalingGroup,
    instance: ScalingInstance,
    server: ServerState,
    hook_type: str,
    function_name: str,
) -> list[JsonObject]:
    hooks = [h for h in group.hooks if h.type == hook_type]
    if not hooks:
        if hook_type == "INSTANCE_TERMINATING":
            _remove(cloud, instance)
        return []
    instance.lifecycle_state = (
        "PENDING_WAIT" if hook_type == "INSTANCE_LAUNCHING" else "REMOVING_WAIT"
    )
    now = cloud.now()
    events = []
    for hook in hooks:
        action = LifecycleAction(
            key=new_uuid(),
            instance_id=instance.instance_id,
            scaling_group_id=group.id,
            hook_name=hook.name,
            hook_type=hook.type,
            default_result=hook.default_result,
            timeout_at=now + hook.timeout_s,
        )
        cloud.actions[action.key] = action
        instance.action_keys.append(action.key)
        events.append(smn_event(cloud, group, hook, action, server, function_name, now))
    return events


def smn_event(
    cloud: Cloud,
    group: ScalingGroup,
    hook: LifecycleHook,
    action: LifecycleAction,
    server: ServerState,
    function_name: str,
    now: float,
) -> JsonObject:
    """The event FunctionGraph hands to a function subscribed to the hook's SMN topic."""
    message = {
        "service": "AutoScaling",
        "tenant_id": group.project_id,
        "lifecycle_hook_type": hook.type,
        "lifecycle_hook_name": hook.name,
        "lifecycle_action_key": action.key,
        "notification_metadata": hook.notification_metadata,
        "scaling_instance": {
            "instance_id": server.id,
            "instance_name": server.name,
            "instance_ip": server.interfaces[0].ip_address,
        },
        "scaling_group": {
            "scaling_group_id": group.id,
            "scaling_group_name": group.name,
            "scaling_config_id": group.scaling_config_id,
            "scaling_config_name": group.scaling_config_name,
        },
    }
    region = cloud.world.region
    record = {
        "event_version": "1.0",
        "smn": {
            "topic_urn": hook.topic_urn,
            "timestamp": iso(now),
            "message_attributes": None,
            "message": json.dumps(message, separators=(",", ":")),
            "type": "notification",
            "message_id": uuid.uuid4().hex,
            "subject": f"Auto Scaling {hook.type} {server.name}",
        },
        "event_subscription_urn": (
            f"urn:fss:{region}:{group.project_id}:function:default:{function_name}:latest"
        ),
        "event_source": "smn",
    }
    stamp = datetime.fromtimestamp(now, tz=timezone.utc)
    return {
        "record": [record],
        "functionname": function_name,
        "requestId": str(uuid.uuid4()),
        "timestamp": stamp.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (UTC)"),
    }


def instance_view(cloud: Cloud, instance: ScalingInstance) -> JsonObject:
    actions = [cloud.actions[key] for key in instance.action_keys]
    server = cloud.servers.get(instance.instance_id)
    return {
        "instance_id": instance.instance_id,
        "scaling_group_id": instance.scaling_group_id,
        "lifecycle_state": instance.lifecycle_state,
        "instance_ip": server.interfaces[0].ip_address if server else None,
        "actions": [
            {
                "lifecycle_action_key": a.key,
                "lifecycle_hook_name": a.hook_name,
                "lifecycle_hook_type": a.hook_type,
                "status": a.status,
                "default_result": a.default_result,
                "timeout": iso(a.timeout_at),
                "decisions": [
                    {"result": d.result, "source": d.source, "at": iso(d.at)} for d in a.decisions
                ],
                "rejected_callbacks": a.rejected_callbacks,
            }
            for a in actions
        ],
    }


def instances_snapshot(cloud: Cloud, group_id: str | None) -> list[JsonObject]:
    apply_timeouts(cloud, cloud.now())
    return [
        instance_view(cloud, instance)
        for instance in cloud.instances.values()
        if group_id is None or instance.scaling_group_id == group_id
    ]
