"""ELB v3 members and member check jobs: the six operations elbsync calls.

Shapes, status codes and limits follow the API pages in ``shared/reference/elb-v3/`` and
PLATFORM.md. Where the documentation is silent the choice is the strict one and is written in
docs/emulator.md: one bad item fails the whole batch; a batch-add item with the address and port
of an existing member answers ``existed`` and changes nothing; every accepted write makes the
load balancer refuse writes (409 ``ELB.8907``) for ``busy_after_write_s``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable

from elbsync.devkit.emulator import health
from elbsync.devkit.emulator.clock import iso
from elbsync.devkit.emulator.cloud import (
    CheckJob,
    Cloud,
    MemberRecord,
    PoolState,
    new_uuid,
)
from elbsync.devkit.emulator.replies import (
    Call,
    EmulatedApiError,
    JsonObject,
    Reply,
    elb_bad_request,
    elb_not_found,
    json_object,
)

__all__ = [
    "BUSY_CODE",
    "PROTECTED_CODE",
    "QUOTA_CODE",
    "batch_add",
    "batch_delete",
    "batch_update",
    "create_check_job",
    "job_view",
    "list_members",
    "member_view",
    "pools_snapshot",
    "settle_jobs",
    "show_check_job",
]

BUSY_CODE = "ELB.8907"
QUOTA_CODE = "ELB.8905"
PROTECTED_CODE = "ELB.8906"
_ADD_FIELDS = {
    "address",
    "protocol_port",
    "subnet_cidr_id",
    "weight",
    "name",
    "admin_state_up",
    "availability_zone",
}
_UPDATE_FIELDS = {"id", "weight", "name", "protocol_port", "admin_state_up", "availability_zone"}
_DELETE_FIELDS = {"id", "address", "protocol_port"}
_SUBJECTS = {
    "all": None,
    "config": "config",
    "networkAcl": "networkAcl",
    "securityGroup": "securityGroup",
}


# Views.


def member_view(cloud: Cloud, pool: PoolState, member: MemberRecord, now: float) -> JsonObject:
    status, reason = health.member_health(cloud, pool, member, now)
    server = cloud.server_at(member.address, member.subnet_cidr_id)
    view: JsonObject = {
        "id": member.id,
        "name": member.name,
        "project_id": member.project_id,
        "admin_state_up": server is not None,
        "subnet_cidr_id": member.subnet_cidr_id,
        "protocol_port": member.protocol_port,
        "weight": member.weight,
        "address": member.address,
        "ip_version": member.ip_version,
        "operating_status": status,
        "status": [
            _listener_status(listener.id, status, reason)
            for listener in cloud.listeners_of_pool(pool.model.id)
        ],
        "member_type": "instance" if member.subnet_cidr_id else "ip",
        "instance_id": server.id if server is not None else "",
        "created_at": iso(member.created_at),
        "updated_at": iso(member.updated_at),
    }
    if reason is not None:
        view["reason"] = reason
    return view


def _listener_status(listener_id: str, status: str, reason: JsonObject | None) -> JsonObject:
    entry: JsonObject = {"listener_id": listener_id, "operating_status": status}
    if reason is not None:
        entry["reason"] = reason
    return entry


def pools_snapshot(cloud: Cloud) -> list[JsonObject]:
    now = cloud.now()
    return [
        {
            "id": pool.model.id,
            "name": pool.model.name,
            "load_balancer_id": pool.load_balancer_id,
            "busy_until": _busy_iso(cloud, pool.load_balancer_id, now),
            "members": [member_view(cloud, pool, m, now) for m in pool.members.values()],
        }
        for pool in cloud.pools.values()
    ]


def _busy_iso(cloud: Cloud, lb_id: str, now: float) -> str | None:
    until = cloud.busy_until.get(lb_id, 0.0)
    return iso(until) if until > now else None


# Shared checks.


def _pool(cloud: Cloud, call: Call) -> PoolState:
    pool_id = call.params["pool_id"]
    pool = cloud.pools.get(pool_id)
    if pool is None or cloud.load_balancer_of_pool(pool).project_id != call.project_id:
        raise elb_not_found(f"pool {pool_id} could not be found")
    return pool


def _writable(cloud: Cloud, pool: PoolState, now: float) -> None:
    until = cloud.busy_until.get(pool.load_balancer_id, 0.0)
    if until > now:
        raise EmulatedApiError(
            409,
            BUSY_CODE,
            f"load balancer {pool.load_balancer_id} is not ACTIVE (PENDING_UPDATE); "
            "it refuses changes until the previous one is applied",
        )


def _written(cloud: Cloud, pool: PoolState, now: float) -> None:
    lb = cloud.load_balancer_of_pool(pool)
    busy_for = cloud.behaviour_busy_after_write(lb)
    if busy_for > 0:
        cloud.busy_until[lb.id] = now + busy_for


def _members_list(body: JsonObject, cloud: Cloud) -> list[JsonObject]:
    members = body.get("members")
    if not isinstance(members, list):
        raise elb_bad_request("members is required and must be an array")
    limit = cloud.world.behaviour.max_batch
    if not members:
        raise elb_bad_request("members must not be empty")
    if len(members) > limit:
        raise elb_bad_request(f"members has {len(members)} items; at most {limit} are allowed")
    items: list[JsonObject] = []
    for index, item in enumerate(members):
        if not isinstance(item, dict):
            raise elb_bad_request(f"members[{index}] must be an object")
        items.append(item)
    return items


def _unknown_fields(item: JsonObject, allowed: set[str], where: str) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        raise elb_bad_request(f"{where}: unknown field {extra[0]!r}")


def _integer(
    item: JsonObject, name: str, where: str, low: int, high: int, *, default: int | None = None
) -> int:
    value = item.get(name)
    if value is None:
        if default is None:
            raise elb_bad_request(f"{where}.{name} is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise elb_bad_request(f"{where}.{name} must be an integer")
    if not low <= value <= high:
        raise elb_bad_request(f"{where}.{name} must be between {low} and {high}, got {value}")
    return value


def _text(item: JsonObject, name: str, where: str, *, max_length: int = 255) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise elb_bad_request(f"{where}.{name} must be a string of at most {max_length} characters")
    return value


def _address(item: JsonObject, where: str) -> str:
    value = item.get("address")
    if not isinstance(value, str) or not value:
        raise elb_bad_request(f"{where}.address is required")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise elb_bad_request(f"{where}.address {value!r} is not a valid IP address") from None


def _same_endpoint(member: MemberRecord, address: str, port: int) -> bool:
    return (
        ipaddress.ip_address(member.address) == ipaddress.ip_address(address)
        and member.protocol_port == port
    )


# List.

_FILTERS: dict[str, Callable[[JsonObject], object]] = {
    "id": lambda v: v["id"],
    "name": lambda v: v["name"],
    "address": lambda v: v["address"],
    "protocol_port": lambda v: str(v["protocol_port"]),
    "weight": lambda v: str(v["weight"]),
    "subnet_cidr_id": lambda v: v["subnet_cidr_id"],
    "operating_status": lambda v: v["operating_status"],
    "admin_state_up": lambda v: str(v["admin_state_up"]).lower(),
    "ip_version": lambda v: v["ip_version"],
    "member_type": lambda v: v["member_type"],
    "instance_id": lambda v: v["instance_id"],
}
_INTEGER_FILTERS = ("protocol_port", "weight")


def list_members(cloud: Cloud, call: Call) -> Reply:
    pool = _pool(cloud, call)
    now = cloud.now()
    views = [member_view(cloud, pool, m, now) for m in pool.members.values()]
    for name, key in _FILTERS.items():
        wanted = call.query_values(name)
        if not wanted:
            continue
        if name in _INTEGER_FILTERS:
            wanted = [str(_query_int(name, value, 0, 65535)) for value in wanted]
        if name == "address":
            wanted = [_normal_address(value) for value in wanted]
        views = [v for v in views if str(key(v)) in wanted]
    limit_text = call.query_value("limit")
    if limit_text is None:
        return Reply(200, {"members": views, "page_info": _page_info(views, more=False)})
    limit = _query_int("limit", limit_text, 0, 2000) or 2000
    reverse = _query_bool("page_reverse", call.query_value("page_reverse"))
    marker = call.query_value("marker")
    start, stop = 0, len(views)
    if marker is not None:
        ids = [v["id"] for v in views]
        if marker not in ids:
            raise elb_bad_request(f"marker {marker!r} is not the id of a member in this listing")
        position = ids.index(marker)
        start, stop = (0, position) if reverse else (position + 1, len(views))
    if reverse:
        page = views[max(start, stop - limit) : stop]
        more_after = marker is not None
    else:
        page = views[start : start + limit]
        more_after = start + limit < stop
    return Reply(200, {"members": page, "page_info": _page_info(page, more=more_after)})


def _page_info(page: list[JsonObject], *, more: bool) -> JsonObject:
    info: JsonObject = {"current_count": len(page)}
    if page:
        info["previous_marker"] = page[0]["id"]
        if more:
            info["next_marker"] = page[-1]["id"]
    return info


def _query_int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise elb_bad_request(f"query parameter {name} must be an integer") from None
    if not low <= number <= high:
        raise elb_bad_request(f"query parameter {name} must be between {low} and {high}")
    return number


def _query_bool(name: str, value: str | None) -> bool:
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise elb_bad_request(f"query parameter {name} must be true or false")


def _normal_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


# Batch add.


def batch_add(cloud: Cloud, call: Call) -> Reply:
    pool = _pool(cloud, call)
    items = _members_list(json_object(call.body), cloud)
    lb = cloud.load_balancer_of_pool(pool)
    wanted: list[tuple[str, int, int, str, str | None]] = []
    for index, item in enumerate(items):
        where = f"members[{index}]"
        _unknown_fields(item, _ADD_FIELDS, where)
        address = _address(item, where)
        port = _integer(item, "protocol_port", where, 1, 65535)
        weight = _integer(item, "weight", where, 0, 100, default=1)
        name = _text(item, "name", where) or ""
        subnet_id = _text(item, "subnet_cidr_id", where, max_length=64)
        _check_subnet(cloud, lb.id, address, subnet_id, where)
        wanted.append((address, port, weight, name, subnet_id))
    now = cloud.now()
    _writable(cloud, pool, now)
    by_endpoint = {(m.address, m.protocol_port): m for m in pool.members.values()}
    new_endpoints = {(a, p) for a, p, *_ in wanted} - set(by_endpoint)
    quota = cloud.member_quota(pool)
    if len(pool.members) + len(new_endpoints) > quota:
        raise EmulatedApiError(
            409,
            QUOTA_CODE,
            f"quota exceeded: pool {pool.model.id} would have "
            f"{len(pool.members) + len(new_endpoints)} members; the quota is {quota}",
        )
    results: list[JsonObject] = []
    for address, port, weight, name, subnet_id in wanted:
        match = by_endpoint.get((address, port))
        status = "existed"
        if match is None:
            status = "successful"
            match = MemberRecord(
                id=new_uuid(),
                pool_id=pool.model.id,
                project_id=call.project_id,
                name=name,
                address=address,
                protocol_port=port,
                weight=weight,
                subnet_cidr_id=subnet_id,
                created_at=now,
                updated_at=now,
                health_since=now,
            )
            pool.members[match.id] = match
            by_endpoint[(address, port)] = match
        view = member_view(cloud, pool, match, now)
        view["port_id"] = ""
        view["ret_status"] = status
        results.append(view)
    _written(cloud, pool, now)
    return Reply(201, {"members": results})


def _check_subnet(
    cloud: Cloud, lb_id: str, address: str, subnet_id: str | None, where: str
) -> None:
    lb = cloud.load_balancers[lb_id]
    ip = ipaddress.ip_address(address)
    if subnet_id is None:
        if not lb.ip_target_enable:
            raise elb_bad_request(
                f"{where}.subnet_cidr_id is required: load balancer {lb_id} does not have "
                "IP as a backend (ip_target_enable) enabled"
            )
        if ip.version != 4:
            raise elb_bad_request(f"{where}.address must be IPv4 for an IP-as-a-backend member")
        return
    subnet = cloud.subnets.get(subnet_id)
    if subnet is None:
        raise elb_bad_request(f"{where}.subnet_cidr_id {subnet_id} does not exist")
    vpc = cloud.subnets[lb.vip_subnet_id].vpc_id
    if subnet.vpc_id != vpc:
        raise elb_bad_request(
            f"{where}.subnet_cidr_id {subnet_id} is not in the VPC of load balancer {lb_id}"
        )
    if ip not in ipaddress.ip_network(subnet.cidr):
        raise elb_bad_request(
            f"{where}.address {address} is not in subnet {subnet_id} ({subnet.cidr})"
        )


# Batch update.


def batch_update(cloud: Cloud, call: Call) -> Reply:
    pool = _pool(cloud, call)
    items = _members_list(json_object(call.body), cloud)
    changes: list[tuple[MemberRecord, int | None, str | None, int | None]] = []
    for index, item in enumerate(items):
        where = f"members[{index}]"
        _unknown_fields(item, _UPDATE_FIELDS, where)
        member_id = _text(item, "id", where, max_length=64)
        if not member_id:
            raise elb_bad_request(f"{where}.id is required")
        member = pool.members.get(member_id)
        if member is None:
            raise elb_not_found(f"member {member_id} could not be found in pool {pool.model.id}")
        weight = _integer(item, "weight", where, 0, 100) if "weight" in item else None
        port = _integer(item, "protocol_port", where, 1, 65535) if "protocol_port" in item else None
        changes.append((member, weight, _text(item, "name", where), port))
    for member, _, _, port in changes:
        if port is None or port == member.protocol_port:
            continue
        clash = [
            m
            for m in pool.members.values()
            if m.id != member.id and _same_endpoint(m, member.address, port)
        ]
        if clash:
            raise elb_bad_request(
                f"member {member.id}: {member.address}:{port} is already member {clash[0].id}"
            )
    now = cloud.now()
    _writable(cloud, pool, now)
    results: list[JsonObject] = []
    for member, weight, name, port in changes:
        if weight is not None:
            member.weight = weight
        if name is not None:
            member.name = name
        if port is not None and port != member.protocol_port:
            member.protocol_port = port
            member.health_since = now
        member.updated_at = now
        results.append(member_view(cloud, pool, member, now))
    _written(cloud, pool, now)
    return Reply(200, {"members": results})


# Batch delete.


def batch_delete(cloud: Cloud, call: Call) -> Reply:
    pool = _pool(cloud, call)
    items = _members_list(json_object(call.body), cloud)
    by_id = ["id" in item for item in items]
    if any(by_id) and not all(by_id):
        raise elb_bad_request("members must all be given by id or all by address and protocol_port")
    targets: list[tuple[str | None, tuple[str, int] | None]] = []
    for index, item in enumerate(items):
        where = f"members[{index}]"
        _unknown_fields(item, _DELETE_FIELDS, where)
        if "id" in item:
            if "address" in item or "protocol_port" in item:
                raise elb_bad_request(f"{where}: give either id or address and protocol_port")
            member_id = _text(item, "id", where, max_length=64)
            if not member_id:
                raise elb_bad_request(f"{where}.id must be a non-empty string")
            targets.append((member_id, None))
        else:
            address = _address(item, where)
            targets.append((None, (address, _integer(item, "protocol_port", where, 1, 65535))))
    now = cloud.now()
    if pool.model.member_deletion_protection_enable:
        raise EmulatedApiError(
            409,
            PROTECTED_CODE,
            f"pool {pool.model.id} has member deletion protection enabled; members cannot be "
            "deleted",
        )
    _writable(cloud, pool, now)
    results: list[JsonObject] = []
    for member_id, endpoint in targets:
        if member_id is not None:
            match = pool.members.get(member_id)
        else:
            assert endpoint is not None
            match = next((m for m in pool.members.values() if _same_endpoint(m, *endpoint)), None)
        if match is None:
            results.append({"id": member_id or "", "ret_status": "not found"})
            continue
        settle_jobs(cloud, now, member_ids={match.id})
        del pool.members[match.id]
        results.append({"id": match.id, "ret_status": "successful"})
    _written(cloud, pool, now)
    return Reply(200, {"members": results})


# Member check jobs.


def create_check_job(cloud: Cloud, call: Call) -> Reply:
    member_id = call.params["member_id"]
    found = cloud.find_member(member_id)
    if found is None or found[1].project_id != call.project_id:
        raise elb_not_found(f"member {member_id} could not be found")
    pool, member = found
    body = json_object(call.body) if call.body.strip() else {}
    check = body.get("member_check")
    if not isinstance(check, dict):
        raise elb_bad_request("member_check is required and must be an object")
    _unknown_fields(check, {"listener_id", "subject"}, "member_check")
    listener_id = check.get("listener_id")
    subject = check.get("subject")
    if not isinstance(listener_id, str) or not listener_id:
        raise elb_bad_request("member_check.listener_id is required")
    if not isinstance(subject, str) or subject not in _SUBJECTS:
        raise elb_bad_request(
            "member_check.subject must be one of all, config, networkAcl, securityGroup"
        )
    listed = cloud.listeners.get(listener_id)
    if listed is None or cloud.load_balancers[listed[1]].project_id != call.project_id:
        raise elb_not_found(f"listener {listener_id} could not be found")
    if listed[0].default_pool_id != pool.model.id:
        raise elb_bad_request(
            f"listener {listener_id} does not forward to pool {pool.model.id} of member {member.id}"
        )
    now = cloud.now()
    job = CheckJob(
        id=new_uuid(),
        project_id=call.project_id,
        member_id=member.id,
        listener_id=listener_id,
        subject=subject,
        created_at=now,
        done_at=now + cloud.world.behaviour.check_job_duration_s,
    )
    cloud.check_jobs[job.id] = job
    return Reply(201, {"member_check": {"job_id": job.id}})


def show_check_job(cloud: Cloud, call: Call) -> Reply:
    job_id = call.params["job_id"]
    job = cloud.check_jobs.get(job_id)
    if job is None or job.project_id != call.project_id:
        raise elb_not_found(f"member check job {job_id} could not be found")
    now = cloud.now()
    settle_jobs(cloud, now, job_ids={job.id})
    return Reply(200, {"member_check": job_view(cloud, job, now)})


def _total(subject: str) -> int:
    wanted = _SUBJECTS[subject]
    return sum(1 for spec in health.ITEMS if wanted is None or spec.subject == wanted)


def _finished(job: CheckJob, at: float) -> int:
    total = _total(job.subject)
    duration = job.done_at - job.created_at
    if at >= job.done_at:
        return total
    done = math.floor(total * (at - job.created_at) / duration) if duration > 0 else total
    return max(0, min(total - 1, done))


def _items_now(cloud: Cloud, job: CheckJob) -> list[JsonObject] | None:
    found = cloud.find_member(job.member_id)
    if found is None or job.listener_id not in cloud.listeners:
        return None
    pool, member = found
    return health.check_items(health.health_path(cloud, pool, member), job.id, job.subject)


def settle_jobs(
    cloud: Cloud,
    now: float,
    *,
    job_ids: set[str] | None = None,
    member_ids: set[str] | None = None,
    listener_ids: set[str] | None = None,
) -> None:
    """Fix the outcome of due jobs; jobs whose member or listener is about to go are settled
    too: ``processed`` if they were already due, ``failed`` otherwise."""
    going = bool(member_ids or listener_ids)
    for job in cloud.check_jobs.values():
        if job.final_status is not None:
            continue
        if job_ids is not None and job.id not in job_ids:
            continue
        if going and not (
            job.member_id in (member_ids or set()) or job.listener_id in (listener_ids or set())
        ):
            continue
        items = _items_now(cloud, job)
        if items is None or (going and now < job.done_at):
            job.final_status = "failed"
            job.final_at = now
            job.failure = "the member or the listener no longer exists"
        elif now >= job.done_at:
            job.final_status = "processed"
            job.final_at = job.done_at
            job.final_result = _result(items, len(items))


def _result(items: list[JsonObject], revealed: int) -> JsonObject:
    shown = items[:revealed]
    result: JsonObject = {}
    subjects_present = {str(item["subject"]) for item in items}
    for group, subject in health.GROUPS:
        if subject not in subjects_present:
            continue
        group_items = [item for item in shown if item["subject"] == subject]
        total_in_group = sum(1 for item in items if item["subject"] == subject)
        failed_major = any(
            item["reason"] is not None and item["severity"] == "Major" for item in group_items
        )
        result[group] = {
            "check_result": not failed_major,
            "check_items": group_items,
            "check_status": "processed" if len(group_items) == total_in_group else "processing",
        }
    return result


def job_view(cloud: Cloud, job: CheckJob, now: float) -> JsonObject:
    total = _total(job.subject)
    result: JsonObject | None
    if job.final_status == "processed":
        status, finished, result = "processed", total, job.final_result
        updated = job.final_at or now
    elif job.final_status == "failed":
        status, finished, result = "failed", _finished(job, job.final_at or now), None
        updated = job.final_at or now
    else:
        status, finished, updated = "processing", _finished(job, now), now
        items = _items_now(cloud, job)
        result = _result(items, finished) if items is not None else None
    return {
        "status": status,
        "result": result,
        "created_at": iso(job.created_at),
        "updated_at": iso(updated),
        "job_id": job.id,
        "check_item_total_num": total,
        "check_item_finished_num": finished,
        "listener_id": job.listener_id,
        "member_id": job.member_id,
    }
