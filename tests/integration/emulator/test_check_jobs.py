"""Member check jobs: progress, the three result groups, and reasons that name the real fault."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from elbsync.http.auth.sdk_hmac import AkSkAuth

from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration

CONFIG_ITEMS = ["check_hc_config_port"]
ACL_ITEMS = [
    "acl_check_hc_protocol_egress",
    "acl_check_hc_dest_port_egress",
    "acl_check_hc_dest_ip_egress",
    "acl_check_hc_source_port_egress",
    "acl_check_hc_source_ip_egress",
    "acl_check_hc_protocol_ingress",
    "acl_check_hc_dest_port_ingress",
    "acl_check_hc_dest_ip_ingress",
    "acl_check_hc_source_port_ingress",
    "acl_check_hc_source_ip_ingress",
]
SG_ITEMS = [
    "security_group_check_hc_protocol_egress",
    "security_group_check_hc_port_egress",
    "security_group_check_hc_source_ip_egress",
    "security_group_check_hc_protocol_ingress",
    "security_group_check_hc_port_ingress",
    "security_group_check_hc_source_ip_ingress",
]


def _member(emulator: EmulatorHandle, pool_name: str, address: str, port: int) -> str:
    subnet = "subnet-locked" if address.startswith("192.168.2.") else "subnet-app"
    member = {
        "address": address,
        "protocol_port": port,
        "subnet_cidr_id": emulator.subnet_id(subnet),
    }
    response = emulator.client().post(
        emulator.members_path(emulator.pool_id(pool_name), "batch-add"), json={"members": [member]}
    )
    assert response.status_code == 201, response.text
    emulator.advance(1)
    return str(response.json()["members"][0]["id"])


def _create(
    emulator: EmulatorHandle, member_id: str, listener: str, subject: str = "all"
) -> httpx.Response:
    return emulator.client().post(
        f"/v3/{emulator.project_id}/elb/members/{member_id}/health-check",
        json={"member_check": {"listener_id": emulator.listener_id(listener), "subject": subject}},
    )


def _job(emulator: EmulatorHandle, member_id: str, listener: str, subject: str = "all") -> str:
    response = _create(emulator, member_id, listener, subject)
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.match(r"^[0-9a-f]{32}$", body["request_id"])
    return str(body["member_check"]["job_id"])


def _show(emulator: EmulatorHandle, job_id: str) -> dict[str, Any]:
    response = emulator.client().get(f"/v3/{emulator.project_id}/elb/members/check/jobs/{job_id}")
    assert response.status_code == 200, response.text
    check: dict[str, Any] = response.json()["member_check"]
    return check


def _finished_job(emulator: EmulatorHandle, member_id: str, listener: str) -> dict[str, Any]:
    job_id = _job(emulator, member_id, listener)
    emulator.advance(5)
    check = _show(emulator, job_id)
    assert check["status"] == "processed"
    return check


def _failing(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["name"]: item
        for group in check["result"].values()
        for item in group["check_items"]
        if item["reason"] is not None
    }


def _filled(template: str, params: list[str]) -> str:
    names: list[str] = []
    for name in re.findall(r"\{\$(\w+)\}", template):
        if name not in names:
            names.append(name)
    assert len(names) == len(params)
    values = dict(zip(names, params, strict=True))
    return re.sub(r"\{\$(\w+)\}", lambda m: values[m.group(1)], template)


def test_a_job_is_processing_with_a_growing_count_then_processed(emulator: EmulatorHandle) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    job_id = _job(emulator, member_id, "listener-http")
    first = _show(emulator, job_id)
    assert (first["status"], first["check_item_finished_num"]) == ("processing", 0)
    assert first["check_item_total_num"] == 17
    emulator.advance(1)
    middle = _show(emulator, job_id)
    assert middle["status"] == "processing"
    # Half of the 2 s job has passed (plus the real time this test takes).
    assert 8 <= middle["check_item_finished_num"] < 17
    shown = sum(len(group["check_items"]) for group in middle["result"].values())
    assert shown == middle["check_item_finished_num"]
    assert middle["result"]["security_group"]["check_status"] == "processing"
    emulator.advance(1)
    done = _show(emulator, job_id)
    assert (done["status"], done["check_item_finished_num"]) == ("processed", 17)
    assert done["job_id"] == job_id
    assert done["member_id"] == member_id
    assert done["listener_id"] == emulator.listener_id("listener-http")


def test_a_healthy_member_passes_every_item_in_the_documented_groups(
    emulator: EmulatorHandle,
) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    check = _finished_job(emulator, member_id, "listener-http")
    result = check["result"]
    assert list(result) == ["config", "acl", "security_group"]
    assert [i["name"] for i in result["config"]["check_items"]] == CONFIG_ITEMS
    assert [i["name"] for i in result["acl"]["check_items"]] == ACL_ITEMS
    assert [i["name"] for i in result["security_group"]["check_items"]] == SG_ITEMS
    for group in result.values():
        assert group["check_result"] is True
        assert group["check_status"] == "processed"
        for item in group["check_items"]:
            assert item["reason"] is None
            assert item["reason_params"] == []
            assert item["job_id"] == check["job_id"]
            assert item["severity"] in ("Major", "Tips")
            assert "{$" in item["reason_template"]
    assert {i["subject"] for i in result["acl"]["check_items"]} == {"networkAcl"}
    assert {i["subject"] for i in result["security_group"]["check_items"]} == {"securityGroup"}


def test_a_health_check_port_other_than_the_member_port_fails_the_config_item(
    emulator: EmulatorHandle,
) -> None:
    member_id = _member(emulator, "pool-api", "192.168.1.11", 8080)
    check = _finished_job(emulator, member_id, "listener-api")
    failing = _failing(check)
    assert list(failing) == ["check_hc_config_port"]
    item = failing["check_hc_config_port"]
    hm_id = emulator.world.load_balancers[0].pools[1].health_monitor.id  # type: ignore[union-attr]
    assert item["reason_params"] == [hm_id, "9000", "8080"]
    assert (
        item["reason"]
        == f"healthCheck {hm_id}'s protocolPort 9000 is different from member port 8080"
    )
    assert item["severity"] == "Tips"
    assert check["result"]["config"]["check_result"] is True


def test_a_security_group_without_the_health_check_port_fails_the_port_item(
    emulator: EmulatorHandle,
) -> None:
    member_id = _member(emulator, "pool-web", "192.168.1.13", 80)
    check = _finished_job(emulator, member_id, "listener-http")
    failing = _failing(check)
    assert list(failing) == ["security_group_check_hc_port_ingress"]
    item = failing["security_group_check_hc_port_ingress"]
    assert item["reason_params"] == ["80", emulator.security_group_id("sg-closed")]
    assert check["result"]["security_group"]["check_result"] is False
    assert check["result"]["acl"]["check_result"] is True


def test_a_security_group_open_to_another_source_fails_the_source_ip_item(
    emulator: EmulatorHandle,
) -> None:
    group = emulator.security_group_id("sg-closed")
    rule = {
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
        "remote_ip_prefix": "192.168.1.0/24",
    }
    emulator.admin("PUT", f"security_groups/{group}", {"rules": [rule]})
    member_id = _member(emulator, "pool-web", "192.168.1.13", 80)
    failing = _failing(_finished_job(emulator, member_id, "listener-http"))
    names = list(failing)
    assert "security_group_check_hc_source_ip_ingress" in names
    item = failing["security_group_check_hc_source_ip_ingress"]
    assert item["reason_params"] == ["192.168.0.0/24", group]
    assert "security_group_check_hc_port_ingress" not in names


def test_a_security_group_allowing_another_protocol_fails_the_protocol_item(
    emulator: EmulatorHandle,
) -> None:
    group = emulator.security_group_id("sg-closed")
    rules = [
        {"direction": "ingress", "protocol": "udp", "remote_ip_prefix": "0.0.0.0/0"},
        {"direction": "egress", "protocol": "any"},
    ]
    emulator.admin("PUT", f"security_groups/{group}", {"rules": rules})
    member_id = _member(emulator, "pool-web", "192.168.1.13", 80)
    failing = _failing(_finished_job(emulator, member_id, "listener-http"))
    assert list(failing) == ["security_group_check_hc_protocol_ingress"]
    hm_id = emulator.world.load_balancers[0].pools[0].health_monitor.id  # type: ignore[union-attr]
    assert failing["security_group_check_hc_protocol_ingress"]["reason_params"] == [
        hm_id,
        "HTTP",
        "TCP",
        group,
    ]


def test_a_network_acl_without_the_health_check_port_fails_the_acl_dest_port_item(
    emulator: EmulatorHandle,
) -> None:
    member_id = _member(emulator, "pool-web", "192.168.2.10", 80)
    check = _finished_job(emulator, member_id, "listener-http")
    failing = _failing(check)
    assert list(failing) == ["acl_check_hc_dest_port_ingress"]
    acl = emulator.network_acl_id("acl-locked")
    assert failing["acl_check_hc_dest_port_ingress"]["reason_params"] == ["80", acl]
    assert check["result"]["acl"]["check_result"] is False
    assert check["result"]["security_group"]["check_result"] is True


def test_a_network_acl_denying_the_health_check_source_fails_the_source_ip_item(
    emulator: EmulatorHandle,
) -> None:
    acl = emulator.network_acl_id("acl-locked")
    rules = {
        "ingress_rules": [
            {"action": "deny", "protocol": "any", "source_ip_address": "192.168.0.0/24"},
            {"action": "allow", "protocol": "any"},
        ],
        "egress_rules": [{"action": "allow", "protocol": "any"}],
    }
    emulator.admin("PUT", f"network_acls/{acl}", rules)
    member_id = _member(emulator, "pool-web", "192.168.2.10", 80)
    failing = _failing(_finished_job(emulator, member_id, "listener-http"))
    assert list(failing) == ["acl_check_hc_source_ip_ingress"]
    assert failing["acl_check_hc_source_ip_ingress"]["reason_params"] == ["192.168.0.0/24", acl]


def test_a_network_acl_that_blocks_the_reply_fails_an_egress_item(
    emulator: EmulatorHandle,
) -> None:
    acl = emulator.network_acl_id("acl-locked")
    rules = {
        "ingress_rules": [{"action": "allow", "protocol": "any"}],
        "egress_rules": [{"action": "allow", "protocol": "tcp", "source_port": "443"}],
    }
    emulator.admin("PUT", f"network_acls/{acl}", rules)
    member_id = _member(emulator, "pool-web", "192.168.2.10", 80)
    failing = _failing(_finished_job(emulator, member_id, "listener-http"))
    assert list(failing) == ["acl_check_hc_source_port_egress"]
    assert failing["acl_check_hc_source_port_egress"]["reason_params"] == ["80", acl]


def test_every_failing_reason_is_its_template_filled_with_the_params_in_order(
    emulator: EmulatorHandle,
) -> None:
    acl = emulator.network_acl_id("acl-locked")
    emulator.admin(
        "PUT",
        f"network_acls/{acl}",
        {"ingress_rules": [], "egress_rules": [{"action": "deny", "protocol": "any"}]},
    )
    seen = 0
    for pool, address, port, listener in [
        ("pool-web", "192.168.2.10", 80, "listener-http"),
        ("pool-api", "192.168.1.13", 8080, "listener-api"),
    ]:
        member_id = _member(emulator, pool, address, port)
        for item in _failing(_finished_job(emulator, member_id, listener)).values():
            assert item["reason"] == _filled(item["reason_template"], item["reason_params"])
            assert all(isinstance(p, str) for p in item["reason_params"])
            seen += 1
    assert seen >= 4


@pytest.mark.parametrize(
    ("subject", "group", "total"),
    [("config", "config", 1), ("networkAcl", "acl", 10), ("securityGroup", "security_group", 6)],
)
def test_a_subject_limits_the_job_to_its_group(
    emulator: EmulatorHandle, subject: str, group: str, total: int
) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    job_id = _job(emulator, member_id, "listener-http", subject)
    emulator.advance(5)
    check = _show(emulator, job_id)
    assert check["check_item_total_num"] == total
    assert check["check_item_finished_num"] == total
    assert list(check["result"]) == [group]


def test_a_job_whose_member_is_deleted_before_it_finishes_fails(emulator: EmulatorHandle) -> None:
    pool = emulator.pool_id("pool-web")
    member_id = emulator.pool_members(pool)[0]["id"]
    job_id = _job(emulator, member_id, "listener-http")
    deleted = emulator.client().post(
        emulator.members_path(pool, "batch-delete"), json={"members": [{"id": member_id}]}
    )
    assert deleted.status_code == 200
    emulator.advance(5)
    check = _show(emulator, job_id)
    assert check["status"] == "failed"
    assert check["check_item_finished_num"] < 17


def test_a_job_that_finished_before_its_member_was_deleted_stays_processed(
    emulator: EmulatorHandle,
) -> None:
    pool = emulator.pool_id("pool-web")
    member_id = emulator.pool_members(pool)[0]["id"]
    job_id = _job(emulator, member_id, "listener-http")
    emulator.advance(3)
    emulator.client().post(
        emulator.members_path(pool, "batch-delete"), json={"members": [{"id": member_id}]}
    )
    check = _show(emulator, job_id)
    assert check["status"] == "processed"
    assert check["result"]["security_group"]["check_result"] is True


def test_a_job_whose_listener_is_gone_fails(emulator: EmulatorHandle) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    job_id = _job(emulator, member_id, "listener-http")
    emulator.admin("DELETE", f"listeners/{emulator.listener_id('listener-http')}")
    emulator.advance(5)
    assert _show(emulator, job_id)["status"] == "failed"


def test_an_unknown_job_is_404(emulator: EmulatorHandle) -> None:
    response = emulator.client().get(
        f"/v3/{emulator.project_id}/elb/members/check/jobs/{uuid.uuid4()}"
    )
    assert response.status_code == 404
    assert response.json()["error_code"] == "ELB.8904"


def test_a_job_of_another_project_is_404(emulator: EmulatorHandle) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    job_id = _job(emulator, member_id, "listener-http")
    other = emulator.world.credentials[2]
    client = emulator.client(AkSkAuth(other.access_key, other.secret_key))
    response = client.get(f"/v3/{other.project_id}/elb/members/check/jobs/{job_id}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({}, 400, "member_check is required"),
        ({"member_check": {"subject": "all"}}, 400, "listener_id"),
        ({"member_check": {"listener_id": "L", "subject": "everything"}}, 400, "subject"),
        ({"member_check": {"listener_id": "no-such-listener", "subject": "all"}}, 404, "listener"),
    ],
    ids=["no member_check", "no listener", "unknown subject", "unknown listener"],
)
def test_a_bad_check_job_request_is_refused(
    emulator: EmulatorHandle, body: dict[str, Any], status: int, text: str
) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    response = emulator.client().post(
        f"/v3/{emulator.project_id}/elb/members/{member_id}/health-check", json=body
    )
    assert response.status_code == status
    assert text in response.json()["error_msg"]


def test_a_check_job_for_a_listener_of_another_pool_is_400(emulator: EmulatorHandle) -> None:
    member_id = emulator.pool_members(emulator.pool_id("pool-web"))[0]["id"]
    response = _create(emulator, member_id, "listener-api")
    assert response.status_code == 400
    assert response.json()["error_code"] == "ELB.8902"


def test_a_check_job_for_an_unknown_member_is_404(emulator: EmulatorHandle) -> None:
    response = _create(emulator, str(uuid.uuid4()), "listener-http")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ELB.8904"
