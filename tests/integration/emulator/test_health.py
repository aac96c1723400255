"""Member health: operating_status and status[] derived from the world."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration


def _add_one(emulator: EmulatorHandle, pool_name: str, address: str, port: int) -> dict[str, Any]:
    subnet = "subnet-locked" if address.startswith("192.168.2.") else "subnet-app"
    response = emulator.client().post(
        emulator.members_path(emulator.pool_id(pool_name), "batch-add"),
        json={
            "members": [
                {
                    "address": address,
                    "protocol_port": port,
                    "subnet_cidr_id": emulator.subnet_id(subnet),
                }
            ]
        },
    )
    assert response.status_code == 201, response.text
    member: dict[str, Any] = response.json()["members"][0]
    return member


def _status(emulator: EmulatorHandle, pool_name: str, member_id: str) -> dict[str, Any]:
    pool = emulator.pool_id(pool_name)
    body = emulator.client().get(emulator.members_path(pool), params={"id": member_id}).json()
    member: dict[str, Any] = body["members"][0]
    return member


def test_a_pool_without_health_monitor_reports_no_monitor(emulator: EmulatorHandle) -> None:
    member = _add_one(emulator, "pool-static", "192.168.1.10", 8081)
    assert member["operating_status"] == "NO_MONITOR"
    emulator.advance(3600)
    listed = _status(emulator, "pool-static", member["id"])
    assert listed["operating_status"] == "NO_MONITOR"
    assert listed["status"] == [
        {"listener_id": emulator.listener_id("listener-static"), "operating_status": "NO_MONITOR"}
    ]


def test_a_healthy_member_is_offline_until_the_health_delay_then_online(
    emulator: EmulatorHandle,
) -> None:
    member = _add_one(emulator, "pool-web", "192.168.1.11", 8080)
    assert member["operating_status"] == "OFFLINE"
    emulator.advance(9)
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "OFFLINE"
    emulator.advance(1.5)
    listed = _status(emulator, "pool-web", member["id"])
    assert listed["operating_status"] == "ONLINE"
    assert listed["status"] == [
        {"listener_id": emulator.listener_id("listener-http"), "operating_status": "ONLINE"}
    ]
    assert "reason" not in listed


@pytest.mark.parametrize(
    ("address", "port", "reason"),
    [
        ("192.168.1.12", 80, "CONNECT_TIMEOUT"),
        ("192.168.1.13", 80, "CONNECT_TIMEOUT"),
        ("192.168.2.10", 80, "CONNECT_TIMEOUT"),
        ("192.168.1.14", 80, "CONNECT_REFUSED"),
        ("192.168.1.99", 80, "CONNECT_TIMEOUT"),
    ],
    ids=[
        "stopped server",
        "security group blocks the check",
        "network ACL blocks the check",
        "nothing listens on the port",
        "no server has the address",
    ],
)
def test_a_member_that_cannot_pass_its_health_check_stays_offline(
    emulator: EmulatorHandle, address: str, port: int, reason: str
) -> None:
    member = _add_one(emulator, "pool-web", address, port)
    emulator.advance(3600)
    listed = _status(emulator, "pool-web", member["id"])
    assert listed["operating_status"] == "OFFLINE"
    assert listed["reason"]["reason_code"] == reason
    assert listed["status"][0]["operating_status"] == "OFFLINE"
    assert listed["status"][0]["reason"]["reason_code"] == reason


def test_admin_state_up_says_whether_a_server_has_the_address(emulator: EmulatorHandle) -> None:
    known = _add_one(emulator, "pool-static", "192.168.1.11", 9)
    emulator.advance(1)
    unknown = _add_one(emulator, "pool-static", "192.168.1.99", 9)
    assert known["admin_state_up"] is True
    assert known["instance_id"] == emulator.server_id("web-2")
    assert unknown["admin_state_up"] is False
    assert unknown["instance_id"] == ""


def test_the_health_check_uses_the_monitor_port_not_the_member_port(
    emulator: EmulatorHandle,
) -> None:
    # pool-api checks port 9000, which sg-web allows, although members serve 8080; web-4's
    # sg-closed allows neither.
    good = _add_one(emulator, "pool-api", "192.168.1.11", 8080)
    emulator.advance(1)
    bad = _add_one(emulator, "pool-api", "192.168.1.13", 8080)
    emulator.advance(60)
    assert _status(emulator, "pool-api", good["id"])["operating_status"] == "ONLINE"
    assert _status(emulator, "pool-api", bad["id"])["operating_status"] == "OFFLINE"


def test_a_udp_health_check_also_needs_icmp(emulator: EmulatorHandle) -> None:
    member = _add_one(emulator, "pool-dns", "192.168.1.11", 53)
    emulator.advance(60)
    assert _status(emulator, "pool-dns", member["id"])["operating_status"] == "ONLINE"
    group = emulator.security_group_id("sg-web")
    rules = emulator.admin("GET", "world")["security_groups"][0]["rules"]
    without_icmp = [r for r in rules if r["protocol"] != "icmp"]
    emulator.admin("PUT", f"security_groups/{group}", {"rules": without_icmp})
    assert _status(emulator, "pool-dns", member["id"])["operating_status"] == "OFFLINE"


def test_stopping_a_server_takes_its_member_offline_and_starting_it_restarts_the_delay(
    emulator: EmulatorHandle,
) -> None:
    pool = emulator.pool_id("pool-web")
    web1 = emulator.pool_members(pool)[0]
    assert web1["operating_status"] == "ONLINE"
    server = emulator.server_id("web-1")
    emulator.admin("POST", f"servers/{server}/stop")
    assert _status(emulator, "pool-web", web1["id"])["operating_status"] == "OFFLINE"
    emulator.admin("POST", f"servers/{server}/start")
    assert _status(emulator, "pool-web", web1["id"])["operating_status"] == "OFFLINE"
    emulator.advance(11)
    assert _status(emulator, "pool-web", web1["id"])["operating_status"] == "ONLINE"


def test_opening_the_security_group_brings_a_blocked_member_online(
    emulator: EmulatorHandle,
) -> None:
    member = _add_one(emulator, "pool-web", "192.168.1.13", 80)
    emulator.advance(60)
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "OFFLINE"
    group = emulator.security_group_id("sg-closed")
    rule = {
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
        "remote_ip_prefix": "192.168.0.0/24",
    }
    emulator.admin("PUT", f"security_groups/{group}", {"rules": [rule]})
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "ONLINE"


def test_a_security_group_rule_for_another_source_does_not_let_the_check_in(
    emulator: EmulatorHandle,
) -> None:
    member = _add_one(emulator, "pool-web", "192.168.1.13", 80)
    group = emulator.security_group_id("sg-closed")
    rule = {
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
        "remote_ip_prefix": "192.168.1.0/24",
    }
    emulator.admin("PUT", f"security_groups/{group}", {"rules": [rule]})
    emulator.advance(60)
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "OFFLINE"


def test_a_network_acl_must_also_let_the_reply_out(emulator: EmulatorHandle) -> None:
    member = _add_one(emulator, "pool-web", "192.168.2.10", 80)
    acl = emulator.network_acl_id("acl-locked")
    open_in = [{"action": "allow", "protocol": "tcp", "destination_port": "80"}]
    emulator.admin("PUT", f"network_acls/{acl}", {"ingress_rules": open_in, "egress_rules": []})
    emulator.advance(60)
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "OFFLINE"
    reply_out = [{"action": "allow", "protocol": "tcp", "source_port": "80"}]
    emulator.admin(
        "PUT", f"network_acls/{acl}", {"ingress_rules": open_in, "egress_rules": reply_out}
    )
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "ONLINE"


def test_an_earlier_deny_rule_in_a_network_acl_wins(emulator: EmulatorHandle) -> None:
    member = _add_one(emulator, "pool-web", "192.168.2.10", 80)
    acl = emulator.network_acl_id("acl-locked")
    rules = {
        "ingress_rules": [
            {"action": "deny", "protocol": "tcp", "source_ip_address": "192.168.0.0/24"},
            {"action": "allow", "protocol": "any"},
        ],
        "egress_rules": [{"action": "allow", "protocol": "any"}],
    }
    emulator.admin("PUT", f"network_acls/{acl}", rules)
    emulator.advance(60)
    assert _status(emulator, "pool-web", member["id"])["operating_status"] == "OFFLINE"
