"""Deployment event data: the published schema and the pydantic model refuse the same mistakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from elbsync.errors import InputError
from elbsync.inbound.deployments import (
    DEPLOYMENT_TYPES,
    MAX_MEMBERS,
    Deregister,
    Desired,
    Register,
    SetWeights,
)
from elbsync.inbound.validation import check, parse

from tests.events import load_event

Data = dict[str, Any]
SAMPLES = {
    "elbsync.members.register": "member_events/cloudevent_register",
    "elbsync.members.deregister": "member_events/cloudevent_deregister",
    "elbsync.members.weights": "member_events/cloudevent_weights",
    "elbsync.pool.desired": "member_events/cloudevent_desired",
}


def sample(kind: str) -> Data:
    data: Data = load_event(SAMPLES[kind])["data"]
    return data


def schema_field(kind: str, data: object) -> str | None:
    try:
        check(data, DEPLOYMENT_TYPES[kind][1], at="data")
    except InputError as exc:
        return exc.field
    return None


def model_field(kind: str, data: object) -> str | None:
    try:
        parse(DEPLOYMENT_TYPES[kind][0], data, at="data")
    except InputError as exc:
        return exc.field
    return None


def many(count: int) -> list[Data]:
    return [
        {"address": f"10.1.{i // 250}.{i % 250 + 1}", "protocol_port": 80} for i in range(count)
    ]


def setting(key: str, value: object) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        data[key] = value

    return change


def member_setting(key: str, value: object, *, list_key: str = "members") -> Callable[[Data], None]:
    def change(data: Data) -> None:
        data[list_key][0][key] = value

    return change


def member_without(key: str, *, list_key: str = "members") -> Callable[[Data], None]:
    def change(data: Data) -> None:
        del data[list_key][0][key]

    return change


def without(key: str) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        del data[key]

    return change


REGISTER = "elbsync.members.register"
DEREGISTER = "elbsync.members.deregister"
WEIGHTS = "elbsync.members.weights"
DESIRED = "elbsync.pool.desired"

REFUSED_BY_BOTH = [
    pytest.param(
        REGISTER,
        member_setting("protocol_port", 0),
        "data.members[0].protocol_port",
        id="port-zero",
    ),
    pytest.param(
        REGISTER,
        member_setting("protocol_port", 65536),
        "data.members[0].protocol_port",
        id="port-above-65535",
    ),
    pytest.param(
        REGISTER,
        member_without("protocol_port"),
        "data.members[0].protocol_port",
        id="port-missing",
    ),
    pytest.param(
        REGISTER, member_setting("weight", -1), "data.members[0].weight", id="weight-negative"
    ),
    pytest.param(
        REGISTER, member_setting("weight", 101), "data.members[0].weight", id="weight-above-100"
    ),
    pytest.param(
        REGISTER, member_setting("address", "1"), "data.members[0].address", id="address-too-short"
    ),
    pytest.param(
        REGISTER,
        member_setting("subnet_cidr_id", ""),
        "data.members[0].subnet_cidr_id",
        id="subnet-empty",
    ),
    pytest.param(
        REGISTER, member_setting("name", "n" * 256), "data.members[0].name", id="name-too-long"
    ),
    pytest.param(
        REGISTER,
        member_setting("colour", "blue"),
        "data.members[0].colour",
        id="unknown-member-field",
    ),
    pytest.param(REGISTER, setting("members", []), "data.members", id="register-nothing"),
    pytest.param(
        REGISTER, setting("members", many(MAX_MEMBERS + 1)), "data.members", id="register-too-many"
    ),
    pytest.param(
        REGISTER,
        setting("listener_ids", [f"l-{i}" for i in range(11)]),
        "data.listener_ids",
        id="too-many-listeners",
    ),
    pytest.param(REGISTER, setting("pool_id", "pool/../x"), "data.pool_id", id="pool-id-not-plain"),
    pytest.param(REGISTER, setting("pool_id", ""), "data.pool_id", id="pool-id-empty"),
    pytest.param(REGISTER, without("pool_id"), "data.pool_id", id="pool-id-missing"),
    pytest.param(
        REGISTER,
        setting("load_balancer_id", ""),
        "data.load_balancer_id",
        id="load-balancer-id-empty",
    ),
    pytest.param(
        REGISTER,
        setting("load_balancer_id", "lb/../other"),
        "data.load_balancer_id",
        id="load-balancer-id-not-plain",
    ),
    pytest.param(
        REGISTER,
        setting("listener_ids", ["listener\x00"]),
        "data.listener_ids[0]",
        id="listener-id-with-nul",
    ),
    pytest.param(
        REGISTER,
        member_setting("subnet_cidr_id", "subnet?x=1"),
        "data.members[0].subnet_cidr_id",
        id="subnet-id-not-plain",
    ),
    pytest.param(
        DEREGISTER, setting("drain_seconds", 3601), "data.drain_seconds", id="drain-above-an-hour"
    ),
    pytest.param(
        DEREGISTER, setting("drain_seconds", -1), "data.drain_seconds", id="drain-negative"
    ),
    pytest.param(
        DEREGISTER,
        member_setting("weight", 0),
        "data.members[0].weight",
        id="deregister-member-with-weight",
    ),
    pytest.param(DEREGISTER, setting("members", []), "data.members", id="deregister-nothing"),
    pytest.param(
        WEIGHTS,
        member_without("weight", list_key="weights"),
        "data.weights[0].weight",
        id="weight-entry-without-weight",
    ),
    pytest.param(
        WEIGHTS,
        member_setting("weight", 101, list_key="weights"),
        "data.weights[0].weight",
        id="new-weight-above-100",
    ),
    pytest.param(WEIGHTS, setting("weights", []), "data.weights", id="no-weights"),
    pytest.param(
        DESIRED, setting("max_remove_share", 0), "data.max_remove_share", id="remove-share-zero"
    ),
    pytest.param(
        DESIRED,
        setting("max_remove_share", 1.5),
        "data.max_remove_share",
        id="remove-share-above-one",
    ),
    pytest.param(
        DESIRED, setting("members", many(MAX_MEMBERS + 1)), "data.members", id="desired-too-many"
    ),
    pytest.param(DESIRED, setting("dryrun", True), "data.dryrun", id="desired-typo"),
]


@pytest.mark.parametrize(("kind", "change", "field"), REFUSED_BY_BOTH)
def test_the_schema_and_the_model_refuse_a_mistake_at_the_same_field(
    kind: str, change: Callable[[Data], None], field: str
) -> None:
    data = sample(kind)
    change(data)

    assert (schema_field(kind, data), model_field(kind, data)) == (field, field)


ACCEPTED_BY_BOTH = [
    pytest.param(DESIRED, setting("members", []), id="desired-empty-pool"),
    pytest.param(DESIRED, setting("max_remove_share", 1), id="remove-share-one"),
    pytest.param(DESIRED, setting("max_remove_share", None), id="remove-share-null"),
    pytest.param(REGISTER, member_setting("protocol_port", 65535), id="port-65535"),
    pytest.param(REGISTER, member_setting("weight", 0), id="weight-zero"),
    pytest.param(REGISTER, member_setting("weight", None), id="weight-null"),
    pytest.param(REGISTER, setting("members", many(MAX_MEMBERS)), id="register-the-maximum"),
    pytest.param(REGISTER, member_setting("address", "2001:db8::10"), id="ipv6-address"),
    pytest.param(DEREGISTER, setting("drain_seconds", 3600), id="drain-an-hour"),
]


@pytest.mark.parametrize(("kind", "change"), ACCEPTED_BY_BOTH)
def test_the_schema_and_the_model_accept_values_at_their_limits(
    kind: str, change: Callable[[Data], None]
) -> None:
    data = sample(kind)
    change(data)

    assert (schema_field(kind, data), model_field(kind, data)) == (None, None)


@pytest.mark.parametrize("address", ["web-1", "192.168.1.300", "10.0.0", "fe80::g"])
def test_the_model_refuses_an_address_that_is_not_an_ip(address: str) -> None:
    data = sample(REGISTER)
    data["members"][0]["address"] = address

    with pytest.raises(InputError, match="not an IP address") as caught:
        parse(Register, data, at="data")

    assert caught.value.field == "data.members[0].address"


def test_the_model_writes_an_ipv6_address_in_its_short_form() -> None:
    data = sample(REGISTER)
    data["members"][0]["address"] = "2001:DB8:0:0::10"

    register = parse(Register, data, at="data")

    assert register.members[0].address == "2001:db8::10"
    assert register.members[0].key == ("2001:db8::10", 8081)


@pytest.mark.parametrize(
    ("kind", "list_key"),
    [(REGISTER, "members"), (DEREGISTER, "members"), (WEIGHTS, "weights"), (DESIRED, "members")],
)
def test_the_model_refuses_a_member_listed_twice(kind: str, list_key: str) -> None:
    data = sample(kind)
    data[list_key].append(dict(data[list_key][0]))

    with pytest.raises(InputError, match="listed twice"):
        parse(DEPLOYMENT_TYPES[kind][0], data, at="data")


def test_the_same_address_spelled_two_ways_is_still_a_duplicate() -> None:
    data = sample(REGISTER)
    data["members"] = [
        {"address": "2001:db8::10", "protocol_port": 80},
        {"address": "2001:DB8:0::10", "protocol_port": 80},
    ]

    with pytest.raises(InputError, match="2001:db8::10:80 is listed twice"):
        parse(Register, data, at="data")


def test_one_address_on_two_ports_is_two_members() -> None:
    data = sample(REGISTER)
    data["members"] = [
        {"address": "192.168.1.10", "protocol_port": 80},
        {"address": "192.168.1.10", "protocol_port": 8080},
    ]

    register = parse(Register, data, at="data")

    assert [m.key for m in register.members] == [("192.168.1.10", 80), ("192.168.1.10", 8080)]


def test_optional_settings_take_their_safe_defaults() -> None:
    desired = parse(Desired, {"pool_id": "p-1", "members": []}, at="data")
    deregister = parse(
        Deregister,
        {"pool_id": "p-1", "members": [{"address": "10.0.0.1", "protocol_port": 80}]},
        at="data",
    )

    assert (desired.dry_run, desired.adopt, desired.force, desired.drain_seconds) == (
        False,
        False,
        False,
        0,
    )
    assert desired.max_remove_share is None
    assert (deregister.adopt, deregister.drain_seconds) == (False, 0)


def test_each_sample_parses_into_the_model_of_its_type() -> None:
    parsed = {kind: parse(DEPLOYMENT_TYPES[kind][0], sample(kind), at="data") for kind in SAMPLES}

    assert isinstance(parsed[REGISTER], Register)
    assert isinstance(parsed[DEREGISTER], Deregister)
    assert isinstance(parsed[WEIGHTS], SetWeights)
    assert isinstance(parsed[DESIRED], Desired)


def test_the_dry_run_sample_asks_for_a_plan_only() -> None:
    data = load_event("member_events/cloudevent_desired_dry_run")["data"]

    desired = parse(Desired, data, at="data")

    assert desired.dry_run
    assert desired.adopt
    assert [m.key for m in desired.members] == [("192.168.1.11", 80), ("192.168.1.14", 80)]
