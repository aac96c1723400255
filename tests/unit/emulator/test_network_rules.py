"""Security-group and network-ACL evaluation, and reason rendering (pure functions)."""

from __future__ import annotations

import ipaddress

import pytest
from elbsync.devkit.emulator.health import (
    ITEMS,
    Packet,
    RuleView,
    blocked_dimension,
    parse_port_spec,
    render,
)

SOURCE = ipaddress.ip_network("192.168.0.0/24")
MEMBER = ipaddress.ip_network("192.168.1.10/32")
CHECK = Packet("tcp", SOURCE, MEMBER, None, 80)


def _allow(
    protocol: str = "any",
    source: str = "0.0.0.0/0",
    destination: str = "0.0.0.0/0",
    ports: tuple[int, int] | None = None,
    source_ports: tuple[int, int] | None = None,
    action: str = "allow",
) -> RuleView:
    return RuleView(action, protocol, source, destination, source_ports, ports)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "first_match", "expected"),
    [
        ([_allow("tcp", "192.168.0.0/16", ports=(80, 80))], False, None),
        ([_allow("udp", "192.168.0.0/16", ports=(80, 80))], False, "protocol"),
        ([_allow("tcp", "192.168.0.0/16", ports=(443, 443))], False, "destination_port"),
        ([_allow("tcp", "10.0.0.0/8", ports=(80, 80))], False, "source_ip"),
        ([_allow("tcp", "192.168.0.0/25", ports=(80, 80))], False, "source_ip"),
        ([], False, "protocol"),
        ([_allow(action="deny"), _allow()], True, "protocol"),
        ([_allow("tcp", "192.168.0.0/24", action="deny"), _allow()], True, "protocol"),
        ([_allow(source="192.168.0.0/24", action="deny"), _allow()], True, "source_ip"),
        ([_allow(), _allow(source="192.168.0.0/24", action="deny")], True, None),
        ([_allow("tcp", source_ports=(1024, 65535))], True, "source_port"),
        ([_allow("tcp", destination="192.168.1.11/32")], True, "destination_ip"),
    ],
    ids=[
        "a matching allow rule lets it in",
        "another protocol",
        "another port",
        "another source",
        "a source prefix narrower than the checking subnet",
        "no rules at all",
        "a deny-all rule first",
        "a protocol-specific deny first",
        "a source-specific deny first",
        "an allow before a deny",
        "a rule for some source ports only cannot promise an ephemeral port",
        "a rule for another destination",
    ],
)
def test_the_blocking_dimension_is_named(
    rules: list[RuleView], first_match: bool, expected: str | None
) -> None:
    assert blocked_dimension(rules, CHECK, first_match=first_match) == expected


def test_icmp_ignores_port_ranges() -> None:
    icmp = Packet("icmp", SOURCE, MEMBER, None, None)
    assert blocked_dimension([_allow("icmp", ports=(80, 80))], icmp, first_match=False) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(None, None), ("80", (80, 80)), ("1024-65535", (1024, 65535)), ("any", None)],
)
def test_port_specs_parse(spec: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_port_spec(spec) == expected


def test_reason_params_follow_the_first_appearance_of_each_placeholder() -> None:
    reason, params = render(
        "{$b} then {$a} then {$b} again", {"a": "first-name", "b": "second-name", "c": "unused"}
    )
    assert params == ["second-name", "first-name"]
    assert reason == "second-name then first-name then second-name again"


def test_the_item_catalogue_has_the_documented_seventeen_items() -> None:
    assert len(ITEMS) == 17
    assert [spec.group for spec in ITEMS].count("acl") == 10
    assert [spec.group for spec in ITEMS].count("security_group") == 6
    tips = {spec.name for spec in ITEMS if spec.severity == "Tips"}
    assert tips == {"check_hc_config_port", "acl_check_hc_source_port_ingress"}
