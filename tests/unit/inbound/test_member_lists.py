"""Member lists by reference: the ``members_key`` rules of the schemas and models, and the
reader of the object it names (against an in-memory bucket speaking OBS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from elbsync.errors import InputError
from elbsync.http.retry import RetryPolicy
from elbsync.inbound.deployments import (
    DEPLOYMENT_TYPES,
    MAX_MEMBERS_BY_REFERENCE,
    MAX_MEMBERS_KEY_CHARS,
    MEMBERS_KEY,
    Deregister,
    Desired,
    Endpoint,
    MemberSpec,
    Register,
)
from elbsync.inbound.member_lists import (
    MAX_MEMBER_LIST_BYTES,
    endpoints_of,
    members_of,
    read_list,
)
from elbsync.inbound.validation import check, parse
from elbsync.state import StoreAccessDeniedError, StoreUnavailableError, layout
from elbsync.state.store import ObjectStore, check_key
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.events import load_event, load_member_list
from tests.fixtures.objectstore import FakeBucketServer

Data = dict[str, Any]
KEY = "inputs/pool-web.json"
BY_REFERENCE = {
    "elbsync.members.register": "member_events/cloudevent_register",
    "elbsync.members.deregister": "member_events/cloudevent_deregister",
    "elbsync.pool.desired": "member_events/cloudevent_desired_by_reference",
}


def data_by_reference(kind: str, key: str = KEY) -> Data:
    data: Data = load_event(BY_REFERENCE[kind])["data"]
    data.pop("members", None)
    data["members_key"] = key
    return data


def verdicts(kind: str, data: Data) -> tuple[str | None, str | None]:
    """The field the published schema and the model refuse (``None``: accepted)."""
    model, schema = DEPLOYMENT_TYPES[kind]
    found: list[str | None] = []
    for run in (lambda: check(data, schema, at="data"), lambda: parse(model, data, at="data")):
        try:
            run()
        except InputError as exc:
            found.append(exc.field)
        else:
            found.append(None)
    return found[0], found[1]


def members(count: int, **fields: object) -> list[Data]:
    return [
        {"address": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", "protocol_port": 80, **fields}
        for n in range(count)
    ]


@pytest.fixture
def store() -> ObjectStore:
    return FakeBucketServer(style="obs").open()


def put(store: ObjectStore, content: object, key: str = KEY) -> None:
    store.put(key, content if isinstance(content, bytes) else json.dumps(content).encode())


def refusal(store: ObjectStore, item: type[Endpoint] = MemberSpec, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        read_list(store, KEY, item, allow_empty=kwargs.pop("allow_empty", False), **kwargs)
    assert caught.value.field == "members_key"
    return caught.value


# -- the key and the choice of members, in the schema and the model alike --------------------

KINDS = sorted(BY_REFERENCE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "key",
    [
        pytest.param(KEY, id="the-documented-place"),
        pytest.param("pool-web.json", id="top-level"),
        pytest.param("deploy/2026-11-23/web_v1.2.members", id="nested-with-dots"),
        pytest.param("v1x/list.json", id="v1-as-a-prefix-of-a-name"),
        pytest.param("inputs/v1/list.json", id="v1-deeper-down"),
        pytest.param("k" * MAX_MEMBERS_KEY_CHARS, id="the-longest"),
    ],
)
def test_a_members_key_is_accepted_by_the_schema_and_the_model(kind: str, key: str) -> None:
    assert verdicts(kind, data_by_reference(kind, key)) == (None, None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * (MAX_MEMBERS_KEY_CHARS + 1), id="too-long"),
        pytest.param("/inputs/list.json", id="leading-slash"),
        pytest.param("inputs/", id="trailing-slash"),
        pytest.param("inputs//list.json", id="empty-segment"),
        pytest.param("inputs/../v1/pending/x.json", id="dot-dot-segment"),
        pytest.param("..", id="dot-dot-alone"),
        pytest.param("inputs/.hidden", id="hidden-segment"),
        pytest.param("inputs/my list.json", id="space"),
        pytest.param("inputs/list.json\n", id="final-newline"),
        pytest.param("inputs/liste-é.json", id="not-ascii"),
        pytest.param("v1/pending/write-queue/lb/x.json", id="elbsync-records"),
        pytest.param("v1", id="elbsync-records-root"),
        pytest.param("V1/done/x.json", id="elbsync-records-upper-case"),
    ],
)
def test_a_bad_members_key_is_refused_by_both_at_the_key(kind: str, key: str) -> None:
    assert verdicts(kind, data_by_reference(kind, key)) == ("data.members_key", "data.members_key")


@hypothesis_settings(max_examples=100, deadline=None, derandomize=True)
@given(key=st.from_regex(MEMBERS_KEY, fullmatch=True).filter(lambda k: len(k) <= 256))
def test_every_key_the_pattern_accepts_is_one_the_state_store_can_hold(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "prefix", [layout.ROOT + "/", layout.PENDING, layout.DONE, layout.IDEMPOTENCY, layout.AUDIT]
)
def test_every_place_of_elbsyncs_own_records_is_refused_as_a_members_key(prefix: str) -> None:
    for key in (f"{prefix}x.json", f"{prefix.upper()}x.json"):
        data = data_by_reference("elbsync.pool.desired", key)

        assert verdicts("elbsync.pool.desired", data) == ("data.members_key", "data.members_key")
        with pytest.raises(InputError, match="elbsync's own records"):
            parse(Desired, data, at="data")


def _both(data: Data) -> None:
    data["members"] = members(1)


def _neither(data: Data) -> None:
    del data["members_key"]


def _null_list(data: Data) -> None:
    data["members"] = None
    del data["members_key"]


def _null_key(data: Data) -> None:
    data["members_key"] = None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(_both, "data", id="both-given"),
        pytest.param(_neither, "data", id="neither-given"),
        pytest.param(_null_list, "data.members", id="members-null"),
        pytest.param(_null_key, "data.members_key", id="members-key-null"),
    ],
)
def test_exactly_one_of_members_and_members_key_must_be_given(
    kind: str, change: Callable[[Data], None], field: str
) -> None:
    data = data_by_reference(kind)
    change(data)

    assert verdicts(kind, data) == (field, field)


@pytest.mark.parametrize("kind", KINDS)
def test_the_refusal_of_both_or_neither_names_the_two_fields(kind: str) -> None:
    neither = data_by_reference(kind)
    del neither["members_key"]
    both = data_by_reference(kind)
    both["members"] = members(1)
    model, schema = DEPLOYMENT_TYPES[kind]

    for data, state in ((neither, "neither is given"), (both, "both are given")):
        for run in (
            lambda d=data: check(d, schema, at="data"),
            lambda d=data: parse(model, d, at="data"),
        ):
            with pytest.raises(InputError) as caught:
                run()
            assert "exactly one of members and members_key" in caught.value.message
            assert state in caught.value.message


def test_a_key_under_the_records_is_refused_with_a_reason_by_the_schema_too() -> None:
    data = data_by_reference("elbsync.pool.desired", "v1/pending/drains/d.json")

    with pytest.raises(InputError, match="keys under v1/ are elbsync's own records"):
        check(data, "pool-desired.schema.json", at="data")


# -- reading the object ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(members(3, weight=5), id="an-array"),
        pytest.param({"members": members(3, weight=5)}, id="an-object"),
    ],
)
def test_a_list_is_read_as_an_array_or_an_object_holding_one(
    store: ObjectStore, content: object
) -> None:
    put(store, content)

    found = read_list(store, KEY, MemberSpec, allow_empty=False)

    assert [(m.address, m.protocol_port, m.weight) for m in found] == [
        ("10.0.0.0", 80, 5),
        ("10.0.0.1", 80, 5),
        ("10.0.0.2", 80, 5),
    ]


def test_the_sample_list_holds_the_members_of_the_sample_event(store: ObjectStore) -> None:
    event = load_event("member_events/cloudevent_desired_by_reference")
    desired = parse(Desired, event["data"], at="data")
    put(store, load_member_list("pool-static"), key=event["data"]["members_key"])

    found = members_of(desired, store)

    assert [m.name for m in found] == ["static-1", "static-2", "static-3", "static-4"]
    assert {m.subnet_cidr_id for m in found} == {"bc67ba94-637d-4efa-a09e-467ada679f81"}


def test_inline_members_are_used_as_they_are_without_reading_the_store() -> None:
    bucket = FakeBucketServer(style="obs")
    register = parse(Register, load_event("member_events/cloudevent_register")["data"], at="data")

    found = members_of(register, bucket.open())

    assert found == register.members
    assert bucket.count() == 0


def test_a_deregister_list_is_read_as_endpoints(store: ObjectStore) -> None:
    put(store, members(2))
    deregister = parse(Deregister, data_by_reference("elbsync.members.deregister"), at="data")

    found = endpoints_of(deregister, store)

    assert [type(e) for e in found] == [Endpoint, Endpoint]


def test_a_missing_object_is_the_events_fault(store: ObjectStore) -> None:
    error = refusal(store)

    assert error.message == f"members_key: object {KEY!r}: no such object in the state store"


@pytest.mark.parametrize(
    ("content", "inner", "problem"),
    [
        pytest.param(b"[{", "", "is not JSON", id="truncated"),
        pytest.param(b"\xff\xfe[]", "", "is not UTF-8 text", id="not-utf-8"),
        pytest.param(b'"10.0.0.1"', "", "must be a JSON array of members", id="a-string"),
        pytest.param(b"[NaN]", "[0]", "which JSON cannot hold", id="nan"),
        pytest.param(b"[" * 40 + b"]" * 40, "", "nested deeper than 32 levels", id="too-deep"),
        pytest.param({"version": 1, "members": []}, "version", "is not a field", id="extra-field"),
        pytest.param({"member": []}, "member", "is not a field", id="misspelt"),
        pytest.param({}, "members", "is required", id="no-members"),
        pytest.param({"members": {}}, "members", "must be an array", id="members-not-a-list"),
        pytest.param(
            [{"address": "10.0.0.1"}], "[0].protocol_port", "Field required", id="no-port"
        ),
        pytest.param(
            {"members": [*members(3), {"address": "10.0.0.300", "protocol_port": 80}]},
            "members[3].address",
            "not an IP address: '10.0.0.300'",
            id="bad-address",
        ),
        pytest.param(
            [{"address": "10.0.0.1", "protocol_port": 80, "colour": "blue"}],
            "[0].colour",
            "Extra inputs are not permitted",
            id="unknown-entry-field",
        ),
        pytest.param(
            [{"address": "10.0.0.1", "protocol_port": 80, "weight": 101}],
            "[0].weight",
            "less than or equal to 100",
            id="weight-above-100",
        ),
        pytest.param([], "", "holds no members", id="empty"),
        pytest.param({"members": []}, "members", "holds no members", id="empty-members"),
    ],
)
def test_content_that_is_not_a_member_list_is_refused_with_its_inner_path(
    store: ObjectStore, content: object, inner: str, problem: str
) -> None:
    put(store, content)

    error = refusal(store)

    where = f"{inner}: " if inner else ""
    assert error.message.startswith(f"members_key: object {KEY!r}: {where}")
    assert problem in error.message


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param(
            [
                {"address": "10.0.0.1", "protocol_port": 80},
                {"address": "10.0.0.1", "protocol_port": 80},
            ],
            id="the-same-spelling",
        ),
        pytest.param(
            [
                {"address": "2001:db8::10", "protocol_port": 80},
                {"address": "2001:DB8:0::10", "protocol_port": 80},
            ],
            id="two-spellings-of-one-address",
        ),
    ],
)
def test_a_member_listed_twice_is_refused_at_its_second_entry(
    store: ObjectStore, entries: list[Data]
) -> None:
    put(store, entries)

    error = refusal(store)

    assert f"object {KEY!r}: [1]: " in error.message
    assert "is listed twice" in error.message


def test_a_deregister_entry_may_not_carry_a_weight(store: ObjectStore) -> None:
    put(store, [{"address": "10.0.0.1", "protocol_port": 80, "weight": 0}])

    error = refusal(store, Endpoint)

    assert "[0].weight" in error.message


def test_an_empty_list_is_a_desired_state_of_no_members(store: ObjectStore) -> None:
    put(store, {"members": []})
    desired = parse(Desired, data_by_reference("elbsync.pool.desired"), at="data")

    assert members_of(desired, store) == []


def test_the_maximum_with_every_field_set_is_read_and_one_more_is_refused(
    store: ObjectStore,
) -> None:
    full = members(MAX_MEMBERS_BY_REFERENCE, weight=100, subnet_cidr_id="s" * 64, name="n" * 255)
    put(store, full)

    assert len(read_list(store, KEY, MemberSpec, allow_empty=False)) == MAX_MEMBERS_BY_REFERENCE

    put(store, members(MAX_MEMBERS_BY_REFERENCE + 1))
    error = refusal(store)
    assert f"holds {MAX_MEMBERS_BY_REFERENCE + 1} members; at most" in error.message


def test_an_object_over_the_size_bound_is_refused_before_it_is_decoded(
    store: ObjectStore,
) -> None:
    put(store, b"[" + b" " * MAX_MEMBER_LIST_BYTES + b"]")

    error = refusal(store)

    assert f"at most {MAX_MEMBER_LIST_BYTES}" in error.message


def test_a_byte_order_mark_is_allowed(store: ObjectStore) -> None:
    put(store, b"\xef\xbb\xbf" + json.dumps(members(1)).encode())

    assert len(read_list(store, KEY, MemberSpec, allow_empty=False)) == 1


def test_a_store_that_cannot_be_read_is_not_the_events_fault() -> None:
    bucket = FakeBucketServer(style="obs")
    store = bucket.open(policy=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))
    for _ in range(2):
        bucket.fail_next("GET", "status", status=503, code="SlowDown")

    with pytest.raises(StoreUnavailableError):
        read_list(store, KEY, MemberSpec, allow_empty=False)


def test_a_store_that_refuses_access_is_not_the_events_fault() -> None:
    store = FakeBucketServer(style="obs").open(secret_key="not-the-secret")

    with pytest.raises(StoreAccessDeniedError):
        read_list(store, KEY, MemberSpec, allow_empty=False)
