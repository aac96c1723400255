"""Hostile input: whatever a trigger delivers, every handler answers without raising, refuses
what it cannot use naming the field, keeps its reply and log lines small, and calls nothing
(no API, no state store) for an event it refuses.

The handlers run as FunctionGraph runs them (``functions/<name>/index.py``), with settings
injected, the state in a temporary directory behind a counting store, and every HTTP request
answered by a counting transport.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from elbsync import runtime
from elbsync.deadline import Deadline
from elbsync.devkit.context import LocalContext
from elbsync.errors import InputError, PathIdError, ServerError
from elbsync.inbound.envelopes import Rejected, unwrap
from elbsync.inbound.lifecycle import SCHEMA_FILE
from elbsync.inbound.limits import (
    MAX_DEPTH,
    MAX_ENVELOPE_EVENTS,
    MAX_EVENT_CHARS,
    MAX_EVENT_VALUES,
    check_event,
    check_value,
    excerpt,
    field_path,
    load_json,
)
from elbsync.inbound.timer import TimerOptions, timer_options
from elbsync.inbound.validation import check
from elbsync.runtime.logs import configure
from elbsync.settings import Settings
from elbsync.state.directory import DirectoryStore
from elbsync.state.idempotency import idempotency_key, payload_hash
from elbsync.state.store import ListPage, StoredObject
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.events import load_event

FUNCTIONS = ("member_events", "check_poller", "http_api")
#: What a reply or a log line may cost, whatever the event carried.
SMALL = 20_000
MEGABYTE = 1_000_000
PROJECT = "0123456789abcdef0123456789abcdef"
BINDINGS = {
    "version": 1,
    "bindings": [
        {
            "name": "web",
            "scaling_group_name": "asg-web",
            "pools": [{"pool_id": "pool-web", "load_balancer_id": "lb-web", "protocol_port": 80}],
        }
    ],
}

HOSTILE = hypothesis_settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the world the handlers run in -----------------------------------------------------------


class CountingStore(DirectoryStore):
    """The directory backend, recording every call a bucket would get."""

    def __init__(self, root: Path, deadline: Deadline, calls: list[str]) -> None:
        super().__init__(str(root), deadline=deadline)
        self.calls = calls

    def get(self, key: str, **kwargs: Any) -> StoredObject | None:
        self.calls.append(f"get {key}")
        return super().get(key, **kwargs)

    def put(self, key: str, data: bytes, **kwargs: Any) -> str:
        self.calls.append(f"put {key}")
        return super().put(key, data, **kwargs)

    def create(self, key: str, data: bytes, **kwargs: Any) -> str:
        self.calls.append(f"create {key}")
        return super().create(key, data, **kwargs)

    def delete(self, key: str, **kwargs: Any) -> None:
        self.calls.append(f"delete {key}")
        super().delete(key, **kwargs)

    def list_page(self, prefix: str, **kwargs: Any) -> ListPage:
        self.calls.append(f"list {prefix}")
        return super().list_page(prefix, **kwargs)


class World:
    """Counts every remote call the handlers make and captures their log lines."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.requests: list[str] = []
        self.store_calls: list[str] = []
        self.logs = io.StringIO()

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return httpx.Response(500, json={"error_code": "SYS.0500", "error_msg": "test"})

    def reset(self) -> None:
        self.requests.clear()
        self.store_calls.clear()
        self.logs.seek(0)
        self.logs.truncate()

    @property
    def calls(self) -> list[str]:
        return self.requests + self.store_calls

    def log_lines(self) -> list[str]:
        return self.logs.getvalue().splitlines()

    def invoke(self, function: str, event: object) -> dict[str, Any]:
        handler = importlib.import_module(f"functions.{function}.index").handler
        reply = handler(event, LocalContext(function, timeout_s=30))
        assert isinstance(reply, dict)
        return reply


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = World(tmp_path / "state")
    client = httpx.Client(transport=httpx.MockTransport(world.answer))
    runtime.use_client(client)
    configure(fmt="json", level="debug", stream=world.logs, force=True)
    runtime.use_settings(
        Settings(
            state_url=f"file://{world.state}",
            elb_endpoint="https://elb.test.example",
            as_endpoint="https://as.test.example",
            ecs_endpoint="https://ecs.test.example",
            project_id=PROJECT,
            access_key="AKHOSTILETEST",
            secret_key="SKHOSTILETEST",
            bindings=json.dumps(BINDINGS),
            max_attempts=1,
            log_format="json",
        )
    )
    runtime.use_store(lambda deadline: CountingStore(world.state, deadline, world.store_calls))
    yield world
    runtime.use_store(None)
    runtime.use_settings(None)
    runtime.use_client(None)
    configure(force=True)
    client.close()


# --- what every answer must be ---------------------------------------------------------------


def error_fields(function: str, reply: dict[str, Any]) -> list[str | None]:
    """The ``field`` of every error in a reply, wherever the function's reply shape puts it."""
    body = json.loads(reply["body"]) if function == "http_api" else reply
    found = [body["error"].get("field")] if isinstance(body.get("error"), dict) else []
    for item in body.get("events", []):
        if isinstance(item.get("error"), dict):
            found.append(item["error"].get("field"))
    found += [warning.get("field") for warning in body.get("warnings", [])]
    return found


def assert_small_and_encodable(world: World, reply: dict[str, Any]) -> None:
    text = json.dumps(reply, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate echoed back
    assert len(text) < SMALL
    for line in world.log_lines():
        assert len(line) < SMALL, line[:200]


def assert_refused(world: World, function: str, reply: dict[str, Any]) -> list[str]:
    """The reply refuses the event naming a field, and nothing was called for it."""
    fields = [field for field in error_fields(function, reply) if field]
    assert fields, reply
    if function == "http_api":
        assert reply["statusCode"] == 400
    assert world.calls == []
    assert_small_and_encodable(world, reply)
    return fields


# --- strategies ------------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
texts = st.text(st.characters(exclude_categories=()) | surrogates, max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=30,
)
non_objects = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5), max_leaves=10
) | st.sampled_from([None, True, [], "x", 0, 1.5])


def nested(depth: int, leaf: object = 0, *, kind: str = "list") -> object:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


#: Values the edge refuses wherever they are in an event.
poisons = st.one_of(
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), surrogates, st.text(max_size=5)),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 2**64, -(2**70)]),
    st.integers(MAX_DEPTH + 1, 120).map(nested),
    st.integers(MAX_DEPTH + 1, 120).map(lambda depth: nested(depth, kind="dict")),
    st.sampled_from([{1, 2}, b"bytes", object(), {1: "int key"}]),
)
#: Poisons JSON text can carry (an SMN message, a TIMER user_event).
text_poisons = st.one_of(
    st.builds(lambda a, s: a + s, st.text(max_size=5), surrogates),
    st.sampled_from([float("nan"), float("inf"), 2**64]),
    st.integers(MAX_DEPTH + 1, 120).map(nested),
)

SAMPLES = (
    "member_events/smn_launching",
    "member_events/cloudevent_register",
    "member_events/eventgrid_two_events",
    "check_poller/timer",
)


def containers(value: object) -> list[dict[str, Any] | list[Any]]:
    """Every object and list in ``value``, itself included."""
    found: list[dict[str, Any] | list[Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            stack.extend(item)
    return found


@st.composite
def poisoned(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """An event (a sample or any object) with a poison put into one of its objects or lists."""
    event = copy.deepcopy(draw(base))
    target = draw(st.sampled_from(containers(event)))
    poison = draw(poisons)
    if isinstance(target, dict):
        target[draw(st.text(max_size=8))] = poison
    else:
        target.insert(draw(st.integers(0, len(target))), poison)
    return event


samples = st.sampled_from(SAMPLES).map(load_event)
objects = st.dictionaries(texts, json_values, max_size=5)
hostile_events = non_objects | poisoned(samples | objects)


@st.composite
def poisoned_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A lifecycle notification whose decoded message carries a poison."""
    event = load_event("member_events/smn_launching")
    message = json.loads(event["record"][0]["smn"]["message"])
    target = draw(st.sampled_from(containers(message)))
    assert isinstance(target, dict)
    target[draw(st.sampled_from(["lifecycle_action_key", "extra", "scaling_instance"]))] = draw(
        text_poisons
    )
    event["record"][0]["smn"]["message"] = json.dumps(message)
    return event


# --- any value, any function -----------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
@HOSTILE
@given(event=json_values)
def test_any_json_value_is_answered_small_without_raising(
    world: World, function: str, event: object
) -> None:
    world.reset()

    reply = world.invoke(function, event)

    assert_small_and_encodable(world, reply)
    if function != "check_poller" or not isinstance(event, dict):
        # Only the poller works on any object: it is a timer, its event carries nothing.
        assert error_fields(function, reply), reply
    if function == "member_events":
        assert world.calls == []


@pytest.mark.parametrize("function", FUNCTIONS)
@HOSTILE
@given(event=hostile_events)
def test_a_hostile_event_is_refused_naming_the_field_before_any_call(
    world: World, function: str, event: object
) -> None:
    world.reset()

    reply = world.invoke(function, event)

    assert_refused(world, function, reply)


@HOSTILE
@given(event=poisoned_messages())
def test_a_poison_inside_the_smn_message_is_refused_at_the_message(
    world: World, event: dict[str, Any]
) -> None:
    world.reset()

    reply = world.invoke("member_events", event)

    (field,) = assert_refused(world, "member_events", reply)
    assert field.startswith("record[0].smn.message")


@HOSTILE
@given(event=json_values)
def test_timer_options_raise_nothing_but_input_error(event: object) -> None:
    for candidate in (event, {"user_event": json.dumps(event)}, {"user_event": f"{{{event}"}):
        outcome = _options_or_refusal(candidate)
        assert isinstance(outcome, TimerOptions) or outcome.field
        if isinstance(outcome, TimerOptions):
            assert len(json.dumps(outcome.warnings)) < 2_000


def _options_or_refusal(event: object) -> TimerOptions | InputError:
    try:
        return timer_options(event)
    except InputError as exc:
        return exc


@HOSTILE
@given(value=text_poisons)
def test_a_poisoned_user_event_is_a_warning_and_sets_no_option(value: object) -> None:
    options = timer_options({"user_event": json.dumps({"expire": value})})

    assert options.expire is False
    (warning,) = options.warnings
    assert str(warning["field"]).startswith("user_event")


# --- explicit cases --------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("event", [None, True, [], "x", 7, 1.5], ids=repr)
def test_an_event_that_is_not_an_object_gets_the_normal_error_reply(
    world: World, function: str, event: object
) -> None:
    reply = world.invoke(function, event)

    assert assert_refused(world, function, reply) == ["(event)"]
    body = json.loads(reply["body"]) if function == "http_api" else reply
    assert body["ok"] is False
    assert body["error"]["code"] == "invalid_input"
    assert "must be a JSON object" in body["error"]["message"]


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize(
    ("sample", "place", "at"),
    [
        ("member_events/smn_launching", ("record", 0, "smn"), "record[0].smn.message_attributes"),
        ("member_events/cloudevent_register", ("data",), "data.message_attributes"),
        ("check_poller/timer", (), "message_attributes"),
    ],
    ids=["smn-record", "cloudevent", "timer"],
)
def test_1000_deep_nesting_is_refused_where_it_is(
    world: World, sample: str, place: tuple[str | int, ...], at: str, kind: str
) -> None:
    event = load_event(sample)
    target: Any = event
    for part in place:
        target = target[part]
    target["message_attributes"] = nested(1000, kind=kind)
    function = sample.split("/")[0]

    reply = world.invoke(function, event)

    (field,) = assert_refused(world, function, reply)
    assert field.startswith(at)
    assert f"nested deeper than {MAX_DEPTH} levels" in json.dumps(reply)


@pytest.mark.parametrize(
    "message",
    ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000, "[" * 40 + "]" * 40],
    ids=["lists", "objects", "just-too-deep"],
)
def test_deep_json_in_the_smn_message_is_refused(world: World, message: str) -> None:
    event = load_event("member_events/smn_launching")
    event["record"][0]["smn"]["message"] = message

    reply = world.invoke("member_events", event)

    (field,) = assert_refused(world, "member_events", reply)
    assert field.startswith("record[0].smn.message")


def test_a_lone_surrogate_in_the_smn_message_id_is_refused(world: World) -> None:
    event = load_event("member_events/smn_launching")
    event["record"][0]["smn"]["message_id"] = "f3a84747\ud800"

    reply = world.invoke("member_events", event)

    assert assert_refused(world, "member_events", reply) == ["record[0].smn.message_id"]
    assert "\\ud800" in reply["error"]["message"]


def test_a_lone_surrogate_in_a_cloudevent_id_is_refused(world: World) -> None:
    event = load_event("member_events/cloudevent_register")
    event["id"] = "\udfff"

    reply = world.invoke("member_events", event)

    assert assert_refused(world, "member_events", reply) == ["id"]


def test_a_lone_surrogate_escaped_inside_the_smn_message_is_refused(world: World) -> None:
    event = load_event("member_events/smn_launching")
    message = json.loads(event["record"][0]["smn"]["message"])
    message["lifecycle_action_key"] = "key\ud800"
    event["record"][0]["smn"]["message"] = json.dumps(message)

    reply = world.invoke("member_events", event)

    fields = assert_refused(world, "member_events", reply)
    assert fields == ["record[0].smn.message.lifecycle_action_key"]


def _launch_with(path: tuple[str, ...], value: str) -> dict[str, Any]:
    event = load_event("member_events/smn_launching")
    message = json.loads(event["record"][0]["smn"]["message"])
    target = message
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    event["record"][0]["smn"]["message"] = json.dumps(message)
    return event


BAD_IDS = {
    "nul": "24cee573\x00-3201",
    "bell": "24cee573\x07",
    "newline-inside": "24cee573\n3201",
    "trailing-newline": "24cee573-3201\n",
    "space": "24cee573 3201",
    "slash": "../24cee573",
    "leading-dot": ".24cee573",
    "del": "24cee573\x7f",
    "too-long": "a" * 129,
}
ID_FIELDS = {
    "action-key": ("lifecycle_action_key",),
    "instance-id": ("scaling_instance", "instance_id"),
    "group-id": ("scaling_group", "scaling_group_id"),
    "hook-name": ("lifecycle_hook_name",),
}


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
@pytest.mark.parametrize("path", list(ID_FIELDS.values()), ids=list(ID_FIELDS))
def test_an_id_that_is_not_a_plain_identifier_is_refused_before_any_call(
    world: World, path: tuple[str, ...], bad: str
) -> None:
    reply = world.invoke("member_events", _launch_with(path, bad))

    fields = assert_refused(world, "member_events", reply)
    assert fields == [".".join(("record[0].smn.message", *path))]


def test_a_hook_name_longer_than_auto_scaling_allows_is_refused(world: World) -> None:
    reply = world.invoke("member_events", _launch_with(("lifecycle_hook_name",), "h" * 33))

    assert assert_refused(world, "member_events", reply) == [
        "record[0].smn.message.lifecycle_hook_name"
    ]


@pytest.mark.parametrize(
    "value", ["ce\x00id", "ce-id\n", "ce\x9bid", "c" * 600], ids=["nul", "newline", "c1", "long"]
)
@pytest.mark.parametrize("name", ["id", "source"])
def test_a_cloudevent_id_or_source_with_control_characters_or_too_long_is_refused(
    world: World, name: str, value: str
) -> None:
    event = load_event("member_events/cloudevent_register")
    event[name] = value

    reply = world.invoke("member_events", event)

    assert assert_refused(world, "member_events", reply) == [name]


def test_the_counting_world_does_see_the_calls_of_a_valid_event(world: World) -> None:
    with pytest.raises(ServerError):  # the transport's 500, re-raised for a redelivery
        world.invoke("member_events", load_event("member_events/cloudevent_register"))

    assert world.store_calls
    assert world.requests


def _big_fields() -> list[Any]:
    big = "x" * MEGABYTE

    def smn(**changes: Any) -> dict[str, Any]:
        event = load_event("member_events/smn_launching")
        event["record"][0]["smn"].update(changes)
        return event

    def cloudevent(**changes: Any) -> dict[str, Any]:
        event = load_event("member_events/cloudevent_register")
        event.update(changes)
        return event

    def data(**changes: Any) -> dict[str, Any]:
        event = load_event("member_events/cloudevent_register")
        event["data"].update(changes)
        return event

    launch = load_event("member_events/smn_launching")
    message = json.loads(launch["record"][0]["smn"]["message"])
    return [
        pytest.param("member_events", smn(message_id=big), id="smn-message-id"),
        pytest.param("member_events", smn(message=big), id="smn-message-not-json"),
        pytest.param(
            "member_events",
            smn(message=json.dumps({**message, "lifecycle_action_key": big})),
            id="action-key",
        ),
        pytest.param("member_events", cloudevent(id=big), id="cloudevent-id"),
        pytest.param("member_events", cloudevent(type=big), id="cloudevent-type"),
        pytest.param("member_events", data(pool_id=big), id="pool-id"),
        pytest.param("member_events", data(**{big: 1}), id="unknown-field"),
        pytest.param("member_events", data(members=[big]), id="member"),
        pytest.param("member_events", cloudevent(extra="y" * 2 * MEGABYTE), id="over-the-limit"),
        pytest.param("check_poller", {"user_event": "y" * 2 * MEGABYTE}, id="timer-too-big"),
        pytest.param("http_api", {"httpMethod": "POST", "body": "z" * 7 * MEGABYTE}, id="http"),
        pytest.param("http_api", {"headers": {big: big}}, id="http-header"),
    ]


@pytest.mark.parametrize(("function", "event"), _big_fields())
def test_a_megabyte_field_gives_a_small_reply_and_small_log_lines(
    world: World, function: str, event: dict[str, Any]
) -> None:
    reply = world.invoke(function, event)

    assert error_fields(function, reply)
    assert_small_and_encodable(world, reply)
    assert world.log_lines()
    assert world.calls == []


def test_a_megabyte_timer_option_is_a_small_warning_and_the_tick_still_runs(world: World) -> None:
    reply = world.invoke("check_poller", {"user_event": "{" + "x" * MEGABYTE})

    assert error_fields("check_poller", reply) == ["user_event"]
    assert_small_and_encodable(world, reply)
    assert "list v1/pending/write-queue/" in world.calls


def test_too_many_events_in_one_envelope_are_refused_as_a_whole(world: World) -> None:
    one = load_event("member_events/eventgrid_two_events")["events"][0]
    event = {"events": [one] * (MAX_ENVELOPE_EVENTS + 1)}

    reply = world.invoke("member_events", event)

    assert assert_refused(world, "member_events", reply) == ["events"]


# --- the limits themselves -------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_event_is_within_the_limits(name: str) -> None:
    event = load_event(name)

    assert check_event(event) is event


def test_nesting_up_to_the_limit_is_fine_and_one_more_is_refused() -> None:
    check_value(nested(MAX_DEPTH), at="x")

    with pytest.raises(InputError, match="nested deeper") as caught:
        check_value(nested(MAX_DEPTH + 1), at="x")
    assert caught.value.field == "x" + "[0]" * MAX_DEPTH


@pytest.mark.parametrize(
    ("event", "field", "problem"),
    [
        ({"a": float("nan")}, "a", "JSON cannot hold"),
        ({"a": [1, float("-inf")]}, "a[1]", "JSON cannot hold"),
        ({"a": 2**63}, "a", "beyond 64 bits"),
        ({"a": {1, 2}}, "a", "not a JSON value (a Python set)"),
        ({"a": b"x"}, "a", "not a JSON value (a Python bytes)"),
        ({"a": (1, 2)}, "a", "not a JSON value (a Python tuple)"),
        ({"a": {1: 2}}, "a", "key that is not a string"),
        ({"a\ud800": 1}, "'a\\ud800'", "not Unicode text"),
        ({"a": ["ok", "x\udc80y"]}, "a[1]", "'\\udc80', which is not Unicode text"),
        ({"a": "x" * (MAX_EVENT_CHARS + 1)}, "a", f"over {MAX_EVENT_CHARS} characters"),
        ({"a": [0] * MAX_EVENT_VALUES}, "a", f"more than {MAX_EVENT_VALUES} values"),
    ],
    ids=repr,
)
def test_check_event_refuses_what_json_cannot_carry(
    event: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InputError) as caught:
        check_event(event)

    assert str(caught.value.field).startswith(field)
    assert problem in caught.value.message


def test_load_json_refuses_numbers_too_long_to_read() -> None:
    with pytest.raises(InputError, match="number too large") as caught:
        load_json("[" + "9" * 5000 + "]", at="m")
    assert caught.value.field == "m"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("x" * 1000, "'" + "x" * 80 + "'… (1000 characters)"),
        ("\ud800\x00", "'\\ud800\\x00'"),
        (nested(5000), "a list of 1 item"),
        ({"a": 1, "b": 2}, "an object with 2 fields"),
        (2**200, "an integer of 201 bits"),
        (None, "None"),
        (b"bytes", "a Python bytes"),
    ],
    ids=["short", "long", "unprintable", "deep", "object", "huge-int", "none", "bytes"],
)
def test_excerpt_is_short_and_printable_whatever_the_value(value: object, expected: str) -> None:
    assert excerpt(value) == expected


def test_a_field_path_quotes_a_long_or_unprintable_name() -> None:
    path = field_path("data", ["k" * 5000, 0, "ok", "a\x00b"])

    assert path == f"data.'{'k' * 32}'… (5000 characters)[0].ok.'a\\x00b'"


def test_input_error_messages_and_fields_are_bounded_and_encodable() -> None:
    error = InputError("m\ud800" * 5000, field="f" * 5000)

    assert len(error.message) < 1000
    assert error.field is not None
    assert len(error.field) < 300
    json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    assert len(str(PathIdError(f"not a valid id: {'x' * MEGABYTE!r}", field="id"))) < 1000


def test_schema_messages_quote_an_excerpt_of_the_value() -> None:
    data = {"pool_id": "p" * MEGABYTE, "members": [{"address": "10.0.0.1", "protocol_port": 80}]}

    with pytest.raises(InputError) as caught:
        check(data, "members-register.schema.json", at="data")

    assert caught.value.field == "data.pool_id"
    assert len(caught.value.message) < 400
    assert "longer than 64 characters" in caught.value.message


def test_schema_patterns_end_at_the_end_of_the_text() -> None:
    message = json.loads(load_event("member_events/smn_launching")["record"][0]["smn"]["message"])
    check(message, SCHEMA_FILE, at="m")

    with pytest.raises(InputError) as caught:
        check({**message, "lifecycle_action_key": "key\n"}, SCHEMA_FILE, at="m")
    assert caught.value.field == "m.lifecycle_action_key"


def test_an_envelope_with_a_bad_record_still_names_it() -> None:
    event = load_event("member_events/smn_launching")
    event["record"].append({"smn": {"message": "x" * 100_000, "message_id": "m2"}})

    items = unwrap(event)

    assert isinstance(items[1], Rejected)
    assert items[1].error.field == "record[1].smn.message"
    assert len(items[1].error.message) < 500


# --- correlation ids and hashes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, "fallback"),
        ([{"record": []}], "fallback"),
        ({"record": [{"smn": {"message_id": 7}}], "specversion": "1.0", "id": "ce"}, "ce"),
        ({"record": [{"smn": {"message_id": "m\ud800\x00-1"}}]}, "m-1"),
        ({"specversion": "1.0", "id": "i" * MEGABYTE}, "i" * 128),
        ({"headers": {"x-request-id": "\x00\x01"}}, "fallback"),
        ({"headers": ["x-request-id"]}, "fallback"),
    ],
    ids=["null", "list", "non-string-id", "unprintable", "huge", "all-control", "bad-headers"],
)
def test_the_correlation_id_tolerates_any_event(event: object, expected: str) -> None:
    assert runtime.correlation_id(event, "fallback") == expected


def test_hashes_of_valid_text_are_plain_utf8_and_a_surrogate_does_not_crash() -> None:
    plain = hashlib.sha256("smn\x00é-1".encode()).hexdigest()

    assert idempotency_key("smn", "é-1") == plain
    assert payload_hash({"k": "é"}) == hashlib.sha256('{"k":"é"}'.encode()).hexdigest()
    assert idempotency_key("smn", "\ud800") != idempotency_key("smn", "\udc00")
    assert len(payload_hash({"k": "\ud800"})) == 64
