"""ELB v3 members: shapes, pagination, filters, validation, limits and conflicts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle, default_world_document

pytestmark = pytest.mark.integration

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def _is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def _add(
    emulator: EmulatorHandle, pool: str, members: list[dict[str, Any]], *, settle: bool = True
) -> httpx.Response:
    response = emulator.client().post(
        emulator.members_path(pool, "batch-add"), json={"members": members}
    )
    if settle:
        emulator.advance(5)
    return response


def _app_member(address: str, port: int, emulator: EmulatorHandle, **extra: Any) -> dict[str, Any]:
    return {
        "address": address,
        "protocol_port": port,
        "subnet_cidr_id": emulator.subnet_id("subnet-app"),
        **extra,
    }


def _assert_elb_error(response: httpx.Response, status: int, code: str, text: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg", "request_id"}
    assert body["error_code"] == code
    assert text in body["error_msg"]
    assert REQUEST_ID.match(body["request_id"])
    assert response.headers["X-Request-Id"] == body["request_id"]


# Listing.


def test_listing_answers_the_documented_shape_with_a_request_id(emulator: EmulatorHandle) -> None:
    response = emulator.client().get(emulator.members_path(emulator.pool_id("pool-web")))
    assert response.status_code == 200
    body = response.json()
    assert REQUEST_ID.match(body["request_id"])
    assert body["page_info"]["current_count"] == 2
    member = body["members"][0]
    for field in (
        "id",
        "name",
        "project_id",
        "admin_state_up",
        "subnet_cidr_id",
        "protocol_port",
        "weight",
        "address",
        "ip_version",
        "operating_status",
        "status",
        "member_type",
        "instance_id",
        "created_at",
        "updated_at",
    ):
        assert field in member
    assert _is_uuid(member["id"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", member["created_at"])
    assert member["project_id"] == emulator.project_id
    assert member["member_type"] == "instance"
    assert member["instance_id"] == emulator.server_id("web-1")


def test_every_reply_carries_a_fresh_request_id(emulator: EmulatorHandle) -> None:
    client = emulator.client()
    path = emulator.members_path(emulator.pool_id("pool-web"))
    ids = {client.get(path).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_an_unknown_pool_is_404(emulator: EmulatorHandle) -> None:
    response = emulator.client().get(emulator.members_path(str(uuid.uuid4())))
    _assert_elb_error(response, 404, "ELB.8904", "pool")


def test_an_unknown_api_path_is_404_from_the_gateway(emulator: EmulatorHandle) -> None:
    response = emulator.client().get(f"/v3/{emulator.project_id}/elb/loadbalancers")
    _assert_elb_error(response, 404, "APIGW.0101")


def _seed_pool(emulator: EmulatorHandle, count: int) -> list[str]:
    pool = emulator.pool_id("pool-static")
    members = [_app_member(f"192.168.1.{20 + i}", 80, emulator) for i in range(count)]
    response = _add(emulator, pool, members)
    assert response.status_code == 201
    return [m["id"] for m in response.json()["members"]]


def test_pages_follow_next_marker_until_the_last_page(emulator: EmulatorHandle) -> None:
    ids = _seed_pool(emulator, 5)
    client = emulator.client()
    path = emulator.members_path(emulator.pool_id("pool-static"))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        body = client.get(path, params=params).json()
        pages += 1
        seen.extend(m["id"] for m in body["members"])
        info = body["page_info"]
        assert info["current_count"] == len(body["members"])
        assert info["previous_marker"] == body["members"][0]["id"]
        if "next_marker" not in info:
            break
        assert info["next_marker"] == body["members"][-1]["id"]
        params = {"limit": 2, "marker": info["next_marker"]}
    assert seen == ids
    assert pages == 3


def test_page_reverse_returns_the_page_before_the_marker(emulator: EmulatorHandle) -> None:
    ids = _seed_pool(emulator, 5)
    path = emulator.members_path(emulator.pool_id("pool-static"))
    params = {"limit": 2, "marker": ids[3], "page_reverse": "true"}
    body = emulator.client().get(path, params=params).json()
    assert [m["id"] for m in body["members"]] == ids[1:3]
    assert body["page_info"]["previous_marker"] == ids[1]


def test_without_limit_the_marker_is_ignored_and_everything_is_listed(
    emulator: EmulatorHandle,
) -> None:
    ids = _seed_pool(emulator, 3)
    path = emulator.members_path(emulator.pool_id("pool-static"))
    body = emulator.client().get(path, params={"marker": ids[1]}).json()
    assert [m["id"] for m in body["members"]] == ids
    assert "next_marker" not in body["page_info"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "2001"}, {"limit": "-1"}, {"limit": "ten"}, {"limit": "2", "page_reverse": "yes"}],
    ids=["limit above 2000", "negative limit", "limit not a number", "page_reverse not a boolean"],
)
def test_bad_paging_parameters_are_400(emulator: EmulatorHandle, params: dict[str, str]) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"))
    _assert_elb_error(emulator.client().get(path, params=params), 400, "ELB.8902")


def test_a_marker_that_is_not_a_listed_member_is_400(emulator: EmulatorHandle) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"))
    response = emulator.client().get(path, params={"limit": 1, "marker": str(uuid.uuid4())})
    _assert_elb_error(response, 400, "ELB.8902", "marker")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("address", "192.168.1.20"), ("address", "192.168.1.22")], ["20:80", "22:80"]),
        ([("protocol_port", "8080")], ["21:8080"]),
        ([("protocol_port", "80"), ("address", "192.168.1.21")], []),
        ([("name", "b"), ("name", "c")], ["21:8080", "22:80"]),
        ([("weight", "7")], ["22:80"]),
        ([("weight", "1"), ("weight", "7")], ["20:80", "21:8080", "22:80"]),
        ([("operating_status", "NO_MONITOR")], ["20:80", "21:8080", "22:80"]),
        ([("operating_status", "ONLINE")], []),
    ],
    ids=[
        "address repeated",
        "protocol_port",
        "filters combine with and",
        "name repeated",
        "weight",
        "weight repeated",
        "operating_status matches",
        "operating_status excludes",
    ],
)
def test_repeatable_filters_select_members(
    emulator: EmulatorHandle, query: list[tuple[str, str]], expected: list[str]
) -> None:
    pool = emulator.pool_id("pool-static")
    added = _add(
        emulator,
        pool,
        [
            _app_member("192.168.1.20", 80, emulator, name="a"),
            _app_member("192.168.1.21", 8080, emulator, name="b"),
            _app_member("192.168.1.22", 80, emulator, name="c", weight=7),
        ],
    )
    assert added.status_code == 201
    body = emulator.client().get(emulator.members_path(pool), params=query).json()
    got = [f"{m['address'].rsplit('.', 1)[1]}:{m['protocol_port']}" for m in body["members"]]
    assert got == expected


def test_filters_by_id_and_subnet_select_members(emulator: EmulatorHandle) -> None:
    ids = _seed_pool(emulator, 3)
    path = emulator.members_path(emulator.pool_id("pool-static"))
    query = [("id", ids[0]), ("id", ids[2]), ("subnet_cidr_id", emulator.subnet_id("subnet-app"))]
    body = emulator.client().get(path, params=query).json()
    assert [m["id"] for m in body["members"]] == [ids[0], ids[2]]
    other = [("subnet_cidr_id", emulator.subnet_id("subnet-lb"))]
    assert emulator.client().get(path, params=other).json()["members"] == []


# Batch add.


def test_batch_add_creates_members_with_cloud_like_ids_and_default_weight(
    emulator: EmulatorHandle,
) -> None:
    pool = emulator.pool_id("pool-api")
    response = _add(emulator, pool, [_app_member("192.168.1.11", 8080, emulator, name="api-2")])
    assert response.status_code == 201
    body = response.json()
    assert REQUEST_ID.match(body["request_id"])
    (member,) = body["members"]
    assert member["ret_status"] == "successful"
    assert member["weight"] == 1
    assert member["name"] == "api-2"
    assert _is_uuid(member["id"])
    assert [m["id"] for m in emulator.pool_members(pool)] == [member["id"]]


def test_adding_the_same_address_and_port_again_answers_existed_and_changes_nothing(
    emulator: EmulatorHandle,
) -> None:
    pool = emulator.pool_id("pool-web")
    before = emulator.pool_members(pool)
    response = _add(emulator, pool, [_app_member("192.168.1.10", 80, emulator, weight=50)])
    assert response.status_code == 201
    (member,) = response.json()["members"]
    assert member["ret_status"] == "existed"
    assert member["id"] == before[0]["id"]
    assert member["weight"] == 1
    assert emulator.pool_members(pool) == before


def test_the_same_address_on_another_port_is_a_new_member(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    response = _add(emulator, pool, [_app_member("192.168.1.10", 81, emulator)])
    assert response.json()["members"][0]["ret_status"] == "successful"
    assert len(emulator.pool_members(pool)) == 3


def test_a_batch_of_200_is_accepted_and_201_is_400(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-static")
    members = [_app_member(f"192.168.1.{i // 100 + 30}", 1000 + i, emulator) for i in range(201)]
    too_many = _add(emulator, pool, members)
    _assert_elb_error(too_many, 400, "ELB.8902", "at most 200")
    assert emulator.pool_members(pool) == []
    accepted = _add(emulator, pool, members[:200])
    assert accepted.status_code == 201
    assert len(emulator.pool_members(pool)) == 200


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"address": "192.168.1.300"}, "not a valid IP address"),
        ({"address": "not-an-ip"}, "not a valid IP address"),
        ({"protocol_port": 0}, "between 1 and 65535"),
        ({"protocol_port": 65536}, "between 1 and 65535"),
        ({"protocol_port": "80"}, "must be an integer"),
        ({"protocol_port": None}, "protocol_port is required"),
        ({"weight": 101}, "between 0 and 100"),
        ({"weight": -1}, "between 0 and 100"),
        ({"weight": True}, "must be an integer"),
        ({"subnet_cidr_id": "5a3c1e2f-0000-4000-8000-000000000000"}, "does not exist"),
        ({"address": "192.168.2.10"}, "is not in subnet"),
        ({"colour": "blue"}, "unknown field"),
    ],
    ids=[
        "address out of range",
        "address not an IP",
        "port 0",
        "port 65536",
        "port as a string",
        "port missing",
        "weight 101",
        "weight -1",
        "weight a boolean",
        "subnet unknown",
        "address outside the subnet",
        "unknown field",
    ],
)
def test_an_invalid_item_fails_the_whole_batch_with_400(
    emulator: EmulatorHandle, change: dict[str, Any], text: str
) -> None:
    pool = emulator.pool_id("pool-static")
    bad = {**_app_member("192.168.1.21", 80, emulator), **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    response = _add(emulator, pool, [_app_member("192.168.1.20", 80, emulator), bad])
    _assert_elb_error(response, 400, "ELB.8902", text)
    assert "members[1]" in response.json()["error_msg"]
    assert emulator.pool_members(pool) == []


def test_weight_0_and_100_are_both_accepted(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-static")
    response = _add(
        emulator,
        pool,
        [
            _app_member("192.168.1.20", 80, emulator, weight=0),
            _app_member("192.168.1.21", 80, emulator, weight=100),
        ],
    )
    assert [m["weight"] for m in response.json()["members"]] == [0, 100]


def test_a_subnet_of_another_vpc_is_400(emulator: EmulatorHandle) -> None:
    member = {
        "address": "10.9.0.5",
        "protocol_port": 80,
        "subnet_cidr_id": emulator.subnet_id("subnet-other-vpc"),
    }
    response = _add(emulator, emulator.pool_id("pool-static"), [member])
    _assert_elb_error(response, 400, "ELB.8902", "VPC")


def test_a_member_without_subnet_needs_ip_as_a_backend(
    emulator: EmulatorHandle, emulator_factory: Callable[[dict[str, Any]], EmulatorHandle]
) -> None:
    member = {"address": "172.16.0.9", "protocol_port": 80}
    refused = _add(emulator, emulator.pool_id("pool-static"), [member])
    _assert_elb_error(refused, 400, "ELB.8902", "ip_target_enable")
    document = default_world_document()
    document["load_balancers"][0]["ip_target_enable"] = True
    custom = emulator_factory(document)
    accepted = _add(custom, custom.pool_id("pool-static"), [member])
    assert accepted.status_code == 201
    assert accepted.json()["members"][0]["member_type"] == "ip"
    ipv6 = _add(
        custom, custom.pool_id("pool-static"), [{"address": "fd00::9", "protocol_port": 80}]
    )
    _assert_elb_error(ipv6, 400, "ELB.8902", "IPv4")


def test_the_member_quota_of_a_pool_answers_409_elb_8905(
    emulator_factory: Callable[[dict[str, Any]], EmulatorHandle],
) -> None:
    document = default_world_document()
    document["behaviour"]["member_quota"] = 3
    custom = emulator_factory(document)
    pool = custom.pool_id("pool-web")
    one_more = [_app_member("192.168.1.20", 80, custom)]
    assert _add(custom, pool, one_more).status_code == 201
    over = _add(custom, pool, [_app_member("192.168.1.21", 80, custom)])
    _assert_elb_error(over, 409, "ELB.8905", "quota")
    assert len(custom.pool_members(pool)) == 3
    existed = _add(custom, pool, one_more)
    assert existed.json()["members"][0]["ret_status"] == "existed"


def test_the_default_member_quota_is_500(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-static")
    for batch in range(2):
        members = [
            _app_member("192.168.1.40", 1000 + batch * 250 + i, emulator) for i in range(200)
        ]
        assert _add(emulator, pool, members).status_code == 201
    assert _add(emulator, pool, [_app_member("192.168.1.41", 1, emulator)] * 1).status_code == 201
    rest = [_app_member("192.168.1.42", 2000 + i, emulator) for i in range(99)]
    assert _add(emulator, pool, rest).status_code == 201
    assert len(emulator.pool_members(pool)) == 500
    over = _add(emulator, pool, [_app_member("192.168.1.43", 80, emulator)])
    _assert_elb_error(over, 409, "ELB.8905")


# The busy load balancer.


def test_a_write_makes_the_load_balancer_refuse_writes_until_the_busy_window_ends(
    emulator: EmulatorHandle,
) -> None:
    pool = emulator.pool_id("pool-static")
    first = _add(emulator, pool, [_app_member("192.168.1.20", 80, emulator)], settle=False)
    assert first.status_code == 201
    busy = _add(emulator, pool, [_app_member("192.168.1.21", 80, emulator)], settle=False)
    _assert_elb_error(busy, 409, "ELB.8907", "not ACTIVE")
    other_pool_same_lb = emulator.pool_id("pool-api")
    busy_too = _add(emulator, other_pool_same_lb, [_app_member("192.168.1.21", 80, emulator)])
    _assert_elb_error(busy_too, 409, "ELB.8907")
    reads = emulator.client().get(emulator.members_path(pool))
    assert reads.status_code == 200
    other_lb = _add(
        emulator, emulator.pool_id("pool-dns"), [_app_member("192.168.1.21", 53, emulator)]
    )
    assert other_lb.status_code == 201
    emulator.advance(1)
    assert _add(emulator, pool, [_app_member("192.168.1.21", 80, emulator)]).status_code == 201


def test_a_busy_window_can_be_forced_from_the_admin_api(emulator: EmulatorHandle) -> None:
    lb = emulator.load_balancer_id("lb-web")
    emulator.admin("POST", f"load_balancers/{lb}/busy", {"seconds": 30})
    pool = emulator.pool_id("pool-web")
    response = emulator.client().post(
        emulator.members_path(pool, "batch-delete"), json={"members": [{"id": "x"}]}
    )
    _assert_elb_error(response, 409, "ELB.8907")


# Batch update.


def test_batch_update_changes_weight_name_and_port(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    member = emulator.pool_members(pool)[0]
    response = emulator.client().post(
        emulator.members_path(pool, "batch-update"),
        json={
            "members": [{"id": member["id"], "weight": 0, "name": "draining", "protocol_port": 81}]
        },
    )
    assert response.status_code == 200
    (updated,) = response.json()["members"]
    assert (updated["weight"], updated["name"], updated["protocol_port"]) == (0, "draining", 81)
    stored = emulator.pool_members(pool)[0]
    assert (stored["weight"], stored["protocol_port"]) == (0, 81)


def test_updating_an_unknown_member_fails_the_batch_with_404(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    known = emulator.pool_members(pool)[0]["id"]
    response = emulator.client().post(
        emulator.members_path(pool, "batch-update"),
        json={"members": [{"id": known, "weight": 9}, {"id": str(uuid.uuid4()), "weight": 9}]},
    )
    _assert_elb_error(response, 404, "ELB.8904")
    assert emulator.pool_members(pool)[0]["weight"] == 1


def test_an_update_with_a_weight_out_of_range_is_400(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    known = emulator.pool_members(pool)[0]["id"]
    response = emulator.client().post(
        emulator.members_path(pool, "batch-update"),
        json={"members": [{"id": known, "weight": 101}]},
    )
    _assert_elb_error(response, 400, "ELB.8902", "weight")


# Batch delete.


def test_delete_by_id_answers_successful_then_not_found(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    member_id = emulator.pool_members(pool)[0]["id"]
    client = emulator.client()
    path = emulator.members_path(pool, "batch-delete")
    first = client.post(path, json={"members": [{"id": member_id}]})
    assert first.status_code == 200
    assert first.json()["members"] == [{"id": member_id, "ret_status": "successful"}]
    emulator.advance(1)
    again = client.post(path, json={"members": [{"id": member_id}]})
    assert again.json()["members"] == [{"id": member_id, "ret_status": "not found"}]
    assert len(emulator.pool_members(pool)) == 1


def test_delete_by_address_and_port_removes_that_member(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    members = emulator.pool_members(pool)
    response = emulator.client().post(
        emulator.members_path(pool, "batch-delete"),
        json={
            "members": [
                {"address": "192.168.1.11", "protocol_port": 80},
                {"address": "192.168.1.11", "protocol_port": 81},
            ]
        },
    )
    assert response.json()["members"] == [
        {"id": members[1]["id"], "ret_status": "successful"},
        {"id": "", "ret_status": "not found"},
    ]
    assert [m["id"] for m in emulator.pool_members(pool)] == [members[0]["id"]]


def test_delete_by_id_and_by_address_in_one_batch_is_400(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    member_id = emulator.pool_members(pool)[0]["id"]
    response = emulator.client().post(
        emulator.members_path(pool, "batch-delete"),
        json={"members": [{"id": member_id}, {"address": "192.168.1.11", "protocol_port": 80}]},
    )
    _assert_elb_error(response, 400, "ELB.8902", "by id or all by address")
    assert len(emulator.pool_members(pool)) == 2


def test_a_pool_with_member_deletion_protection_refuses_deletes(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-protected")
    member_id = emulator.pool_members(pool)[0]["id"]
    response = emulator.client().post(
        emulator.members_path(pool, "batch-delete"), json={"members": [{"id": member_id}]}
    )
    _assert_elb_error(response, 409, "ELB.8906", "deletion protection")
    assert len(emulator.pool_members(pool)) == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"members": []}, {"members": "x"}, {"members": [1]}],
    ids=["no members", "empty members", "members not an array", "item not an object"],
)
def test_a_malformed_batch_body_is_400(emulator: EmulatorHandle, body: dict[str, Any]) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"), "batch-delete")
    _assert_elb_error(emulator.client().post(path, json=body), 400, "ELB.8902")


def test_a_body_that_is_not_json_is_400(emulator: EmulatorHandle) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"), "batch-add")
    response = emulator.client().post(
        path, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _assert_elb_error(response, 400, "ELB.8902", "JSON")
