"""Contract: each published JSON Schema agrees with its pydantic model, and the samples obey both.

The comparison walks both schemas generically (``$ref`` resolved, ``anyOf`` with null folded into
a nullable type, a ``oneOf`` of single required fields read as "exactly one of", ``not`` compared
like any node), so a new deployment type in ``DEPLOYMENT_TYPES`` is covered without a new test.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pytest
from elbsync.errors import InputError
from elbsync.inbound.deployments import DEPLOYMENT_TYPES
from elbsync.inbound.envelopes import CLOUDEVENT_SCHEMA, SMN_SCHEMA, Rejected, unwrap
from elbsync.inbound.envelopes import LIFECYCLE_EVENT_TYPE as EVENT_TYPE
from elbsync.inbound.lifecycle import SCHEMA_FILE, LifecycleNotification
from elbsync.inbound.validation import check, load_schema, parse
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from tests.events import event_names, load_event

Schema = dict[str, Any]

#: Every inbound event type: its model and its published schema file.
KINDS: dict[str, tuple[type[BaseModel], str]] = {
    EVENT_TYPE: (LifecycleNotification, SCHEMA_FILE),
    **DEPLOYMENT_TYPES,
}
#: Published schemas of the envelopes themselves: checked at the edge, no model behind them.
ENVELOPE_SCHEMAS = {CLOUDEVENT_SCHEMA, SMN_SCHEMA}
BOUNDS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
)
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}

SAMPLES = event_names("member_events/")
MALFORMED = event_names("member_events/malformed_")
VALID = [name for name in SAMPLES if name not in MALFORMED]


def published_schemas() -> list[str]:
    folder = resources.files("elbsync.inbound").joinpath("schemas")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".schema.json"))


# --- canonical form of a schema node -------------------------------------------------------------


def canonical(node: Schema, root: Schema) -> Schema:
    """What a node accepts, in one spelling: types, enum, bounds, properties, items, closedness,
    which fields are alternatives, and what it must not be."""
    node = _resolve(node, root)
    choice = _choice(node)
    alternatives = [] if choice else node.get("anyOf", node.get("oneOf", []))
    branches = [canonical(branch, root) for branch in alternatives]
    if branches:
        return _fold(branches)
    types = set(node["type"]) if isinstance(node.get("type"), list) else set()
    if isinstance(node.get("type"), str):
        types.add(node["type"])
    out: Schema = {}
    values = node.get("enum", [node["const"]] if "const" in node else None)
    if values is not None:
        out["enum"] = sorted(values, key=repr)
        types |= {JSON_TYPES[type(value)] for value in values}
    out["types"] = sorted(types)
    out.update({key: node[key] for key in BOUNDS if key in node})
    if "object" in types or "properties" in node:
        properties = node.get("properties", {})
        out["properties"] = {name: canonical(sub, root) for name, sub in properties.items()}
        out["required"] = sorted(node.get("required", []))
        out["closed"] = node.get("additionalProperties", True) is False
    if "items" in node:
        out["items"] = canonical(node["items"], root)
    if choice:
        out["exactly_one_of"] = choice
    if "not" in node:
        out["not"] = canonical(node["not"], root)
    return out


def _choice(node: Schema) -> list[str]:
    """``oneOf: [{required: [a]}, {required: [b]}]``: exactly one of the fields a and b."""
    branches = node.get("oneOf", [])
    if branches and all(set(b) == {"required"} and len(b["required"]) == 1 for b in branches):
        return sorted(b["required"][0] for b in branches)
    return []


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are expected, got {ref}"
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _fold(branches: list[Schema]) -> Schema:
    """``anyOf: [X, {type: null}]`` is X made nullable; anything richer is kept as branches."""
    typed = [branch for branch in branches if branch["types"] != ["null"]]
    nullable = len(typed) < len(branches)
    if len(typed) != 1:
        return {"anyOf": sorted(json.dumps(b, sort_keys=True) for b in branches)}
    out = dict(typed[0])
    out["types"] = sorted({*out["types"], "null"} if nullable else out["types"])
    return out


def differences(model: Schema, published: Schema, path: str = "") -> list[str]:
    """Readable disagreements between two canonical nodes, with the property path of each."""
    found: list[str] = []
    for key in sorted(set(model) | set(published)):
        if key == "properties":
            found += _property_differences(model.get(key, {}), published.get(key, {}), path)
        elif key == "items":
            found += differences(model.get(key, {}), published.get(key, {}), f"{path}[]")
        elif model.get(key) != published.get(key):
            found.append(
                f"{path or '(root)'}: {key} is {model.get(key)!r} in the model "
                f"but {published.get(key)!r} in the published schema"
            )
    return found


def _property_differences(model: Schema, published: Schema, path: str) -> list[str]:
    found: list[str] = []
    for name in sorted(set(model) | set(published)):
        where = f"{path}.{name}" if path else name
        if name not in published:
            found.append(f"{where}: in the model but not in the published schema")
        elif name not in model:
            found.append(f"{where}: in the published schema but not in the model")
        else:
            found += differences(model[name], published[name], where)
    return found


def model_shape(model: type[BaseModel]) -> Schema:
    schema = model.model_json_schema()
    return canonical(schema, schema)


def published_shape(name: str) -> Schema:
    schema = load_schema(name)
    return canonical(schema, schema)


# --- the schemas themselves -----------------------------------------------------------------------


def test_every_published_schema_belongs_to_a_model_or_an_envelope() -> None:
    paired = {schema for _, schema in KINDS.values()}

    assert set(published_schemas()) == paired | ENVELOPE_SCHEMAS


@pytest.mark.parametrize("name", published_schemas())
def test_every_published_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(name)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert str(schema["$id"]).endswith(f"/{name}")


@pytest.mark.parametrize("kind", sorted(DEPLOYMENT_TYPES))
def test_each_deployment_schema_is_titled_with_its_event_type(kind: str) -> None:
    assert load_schema(DEPLOYMENT_TYPES[kind][1])["title"] == f"{kind} data"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_published_schema_and_the_model_agree(kind: str) -> None:
    model, schema = KINDS[kind]

    assert differences(model_shape(model), published_shape(schema)) == []


def test_the_lifecycle_schema_stays_open_to_fields_auto_scaling_may_add() -> None:
    shape = published_shape(SCHEMA_FILE)

    assert not shape["closed"]
    assert not shape["properties"]["scaling_instance"]["closed"]
    assert not shape["properties"]["scaling_group"]["closed"]


@pytest.mark.parametrize("kind", sorted(DEPLOYMENT_TYPES))
def test_deployment_schemas_refuse_unknown_fields_at_every_level(kind: str) -> None:
    def closed_everywhere(node: Schema) -> bool:
        children = [
            *node.get("properties", {}).values(),
            *([node["items"]] if "items" in node else []),
        ]
        here = node["closed"] if "properties" in node else True
        return here and all(closed_everywhere(child) for child in children)

    assert closed_everywhere(published_shape(DEPLOYMENT_TYPES[kind][1]))


def _drop_required(schema: Schema) -> None:
    schema["required"].remove("pool_id")


def _drop_choice(schema: Schema) -> None:
    del schema["oneOf"]


def _require_both(schema: Schema) -> None:
    schema["required"] += ["members", "members_key"]
    del schema["oneOf"]


def _allow_records(schema: Schema) -> None:
    del schema["properties"]["members_key"]["not"]


def _loosen_key(schema: Schema) -> None:
    schema["properties"]["members_key"]["pattern"] = "^[A-Za-z0-9_./-]+$"


def _open_member(schema: Schema) -> None:
    del schema["properties"]["members"]["items"]["additionalProperties"]


def _widen_port(schema: Schema) -> None:
    schema["properties"]["members"]["items"]["properties"]["protocol_port"]["maximum"] = 65536


def _rename(schema: Schema) -> None:
    schema["properties"]["listeners"] = schema["properties"].pop("listener_ids")


def _loosen_pattern(schema: Schema) -> None:
    schema["properties"]["pool_id"]["pattern"] = "^.+$"


def _number_weight(schema: Schema) -> None:
    schema["properties"]["members"]["items"]["properties"]["weight"]["type"] = ["number", "null"]


def _not_nullable(schema: Schema) -> None:
    schema["properties"]["load_balancer_id"]["type"] = "string"


@pytest.mark.parametrize(
    ("drift", "reported"),
    [
        pytest.param(_drop_required, "(root): required", id="required-dropped"),
        pytest.param(_open_member, "members[]: closed", id="member-opened"),
        pytest.param(_widen_port, "members[].protocol_port: maximum", id="bound-widened"),
        pytest.param(_rename, "listener_ids: in the model but not", id="property-renamed"),
        pytest.param(_loosen_pattern, "pool_id: pattern", id="pattern-loosened"),
        pytest.param(_number_weight, "members[].weight: types", id="type-changed"),
        pytest.param(_not_nullable, "load_balancer_id: types", id="null-refused"),
        pytest.param(_drop_choice, "(root): exactly_one_of", id="choice-dropped"),
        pytest.param(_require_both, "(root): exactly_one_of", id="choice-made-both"),
        pytest.param(_allow_records, "members_key: not", id="records-key-allowed"),
        pytest.param(_loosen_key, "members_key: pattern", id="key-pattern-loosened"),
    ],
)
def test_the_contract_check_reports_a_drifted_schema(drift: Any, reported: str) -> None:
    register, file = DEPLOYMENT_TYPES["elbsync.members.register"]
    schema = copy.deepcopy(load_schema(file))
    drift(schema)

    found = differences(model_shape(register), canonical(schema, schema))

    assert any(line.startswith(reported) for line in found), found


# --- the samples obey both -----------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """The data of one event inside a sample envelope, where the edge would report it."""

    where: str
    kind: str
    data: object


def payloads(event: dict[str, Any]) -> list[Payload]:
    """Decodable payloads of known types; the rest is the envelope's to refuse."""
    found: list[Payload] = []
    for i, record in enumerate(event.get("record", [])):
        try:
            message = json.loads(record["smn"]["message"])
        except json.JSONDecodeError:
            continue
        found.append(Payload(f"record[{i}].smn.message", EVENT_TYPE, message))
    cloud_events = event.get("events", [event] if "specversion" in event else [])
    for i, cloud_event in enumerate(cloud_events):
        if cloud_event["type"] in KINDS:
            where = f"events[{i}].data" if "events" in event else "data"
            found.append(Payload(where, cloud_event["type"], cloud_event["data"]))
    return found


def verdicts(payload: Payload) -> tuple[str | None, str | None]:
    """The field each of schema and model refuses, or None where it accepts."""
    model, schema = KINDS[payload.kind]
    refused: list[str | None] = []
    for run in (
        lambda: check(payload.data, schema, at=payload.where),
        lambda: parse(model, payload.data, at=payload.where),
    ):
        try:
            run()
        except InputError as exc:
            refused.append(exc.field)
        else:
            refused.append(None)
    return refused[0], refused[1]


def edge_refusals(event: dict[str, Any]) -> list[str | None]:
    try:
        items = unwrap(event)
    except InputError as exc:
        return [exc.field or "(envelope)"]
    return [item.error.field for item in items if isinstance(item, Rejected)]


@pytest.mark.parametrize("name", VALID)
def test_every_valid_sample_obeys_both_the_schema_and_the_model(name: str) -> None:
    found = payloads(load_event(name))

    assert found, "a valid sample carries at least one event"
    assert [(p.where, *verdicts(p)) for p in found] == [(p.where, None, None) for p in found]


@pytest.mark.parametrize("name", VALID)
def test_every_valid_sample_obeys_its_envelope_schema(name: str) -> None:
    event = load_event(name)
    records = event.get("record", [])
    cloud_events = event.get("events", [event] if "specversion" in event else [])

    for i, record in enumerate(records):
        check(record, SMN_SCHEMA, at=f"record[{i}]")
    for i, cloud_event in enumerate(cloud_events):
        check(cloud_event, CLOUDEVENT_SCHEMA, at=f"events[{i}]")
    assert len(records) + len(cloud_events) >= 1


@pytest.mark.parametrize("name", MALFORMED)
def test_every_malformed_sample_is_refused_by_both_at_the_same_field(name: str) -> None:
    event = load_event(name)
    judged = [(p.where, *verdicts(p)) for p in payloads(event)]
    refused_by_schema = [schema for _, schema, _ in judged if schema is not None]

    assert [model for _, _, model in judged] == [schema for _, schema, _ in judged]
    edge = edge_refusals(event)
    assert edge, "the edge refuses something in every malformed sample"
    assert set(refused_by_schema) <= set(edge)
