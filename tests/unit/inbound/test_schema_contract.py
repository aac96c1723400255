"""Contract: every published JSON Schema is generated from its model and committed as generated;
the schema and the model accept and refuse alike; the samples obey both.

The edge validates with the committed files (:func:`elbsync.inbound.validation.check`), the flows
parse with the models (:func:`elbsync.inbound.validation.parse`): both must say the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elbsync.errors import InputError
from elbsync.inbound.deployments import DEPLOYMENT_TYPES
from elbsync.inbound.envelopes import CLOUDEVENT_SCHEMA, SMN_SCHEMA, Rejected, unwrap
from elbsync.inbound.lifecycle import SCHEMA_FILE
from elbsync.inbound.published import FOLDER, published_models, published_schemas, render
from elbsync.inbound.validation import check, load_schema, parse
from jsonschema import Draft202012Validator

from tests.events import event_names, load_event

Schema = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]

GENERATED = published_schemas()
SAMPLES = event_names("member_events/")
MALFORMED = event_names("member_events/malformed_")
VALID = [name for name in SAMPLES if name not in MALFORMED]
#: Schemas that stay open: fields Auto Scaling or SMN may add, CloudEvents extension attributes.
OPEN = [SCHEMA_FILE, SMN_SCHEMA, CLOUDEVENT_SCHEMA]


# --- the committed files are the generated ones --------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_each_committed_schema_is_the_one_its_model_generates(name: str) -> None:
    path = FOLDER / name
    committed = path.read_text("utf-8") if path.is_file() else "(missing)"

    assert committed == render(GENERATED[name]), f"{path} is stale: run `make schemas`"


def test_every_file_in_the_schemas_folder_is_generated_from_a_model() -> None:
    files = sorted(path.name for path in FOLDER.iterdir())

    assert files == sorted(GENERATED), "a file nothing generates: publish a model or remove it"


def test_every_schema_the_edge_checks_is_published() -> None:
    checked = {SMN_SCHEMA, CLOUDEVENT_SCHEMA, SCHEMA_FILE}
    checked |= {file for _, file in DEPLOYMENT_TYPES.values()}

    assert checked == set(GENERATED)


def test_generating_twice_gives_the_same_text() -> None:
    again = published_schemas()

    assert {name: render(s) for name, s in again.items()} == {
        name: render(s) for name, s in GENERATED.items()
    }


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_published_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(name)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert str(schema["$id"]).endswith(f"/{name}")
    assert schema["title"]
    assert schema["description"]


@pytest.mark.parametrize("kind", sorted(DEPLOYMENT_TYPES))
def test_each_deployment_schema_is_titled_with_its_event_type(kind: str) -> None:
    assert load_schema(DEPLOYMENT_TYPES[kind][1])["title"] == f"{kind} data"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_a_published_schema_is_whole_and_spells_null_as_a_type(name: str) -> None:
    """The shape :mod:`elbsync.inbound.validation` words its refusals for."""
    text = render(load_schema(name))

    assert "$ref" not in text
    assert "$defs" not in text
    assert '"anyOf"' not in text


def objects(node: Schema, path: str = "(root)") -> Iterator[tuple[str, Schema]]:
    """Every node of a schema that lists properties, with where it is."""
    if "properties" in node:
        yield path, node
        for name, sub in node["properties"].items():
            yield from objects(sub, f"{path}.{name}")
    if "items" in node:
        yield from objects(node["items"], f"{path}[]")


@pytest.mark.parametrize("name", OPEN)
def test_the_notification_and_envelope_schemas_stay_open_to_fields_added_later(name: str) -> None:
    schema = load_schema(name)
    closed = [path for path, node in objects(schema) if node.get("additionalProperties") is False]

    assert closed == []


@pytest.mark.parametrize("kind", sorted(DEPLOYMENT_TYPES))
def test_deployment_schemas_refuse_unknown_fields_at_every_level(kind: str) -> None:
    schema = load_schema(DEPLOYMENT_TYPES[kind][1])
    open_ = [
        path for path, node in objects(schema) if node.get("additionalProperties") is not False
    ]

    assert open_ == []


def test_a_handler_never_imports_the_schema_generator() -> None:
    probe = (
        "import json, sys\n"
        "from elbsync.flows import member_events, scaling, deployment, check_poller\n"
        "from elbsync.errors import InputError\n"
        "from elbsync.inbound.envelopes import unwrap\n"
        "from tests.events import event_names, load_event\n"
        "for name in event_names('member_events/'):\n"
        "    try:\n"
        "        unwrap(load_event(name))\n"
        "    except InputError:\n"
        "        pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('elbsync.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    loaded = json.loads(out)
    assert "elbsync.inbound.envelopes" in loaded
    assert "elbsync.inbound.published" not in loaded


# --- schema and model accept and refuse alike ---------------------------------------------------


def verdict(schema: str, data: object, at: str = "e") -> tuple[str | None, str | None]:
    """The field each of the schema file and its model refuses, or None where it accepts."""
    model = published_models()[schema]
    refused: list[str | None] = []
    for run in (lambda: check(data, schema, at=at), lambda: parse(model, data, at=at)):
        try:
            run()
        except InputError as exc:
            refused.append(exc.field)
        else:
            refused.append(None)
    return refused[0], refused[1]


def smn_record(**smn: object) -> Schema:
    record: Schema = load_event("member_events/smn_launching")["record"][0]
    record["smn"].update(smn)
    return record


def notification(**fields: object) -> Schema:
    message: Schema = json.loads(smn_record()["smn"]["message"])
    for name, value in fields.items():
        place, _, field = name.rpartition("__")
        (message[place] if place else message)[field] = value
    return message


def cloudevent(**attributes: object) -> Schema:
    return {**load_event("member_events/cloudevent_register"), **attributes}


ANY = [None, 7, "text", [1, {"a": None}], {"nested": [True]}]
ACCEPTED = [
    *(pytest.param(SMN_SCHEMA, smn_record(subject=v), id=f"smn-subject-{v!r}") for v in ANY),
    pytest.param(SMN_SCHEMA, {**smn_record(), "added": 1}, id="smn-record-extra-field"),
    pytest.param(SMN_SCHEMA, smn_record(added=[1]), id="smn-extra-field"),
    *(pytest.param(CLOUDEVENT_SCHEMA, cloudevent(time=v), id=f"time-{v!r}") for v in ANY),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(traceparent="00-ab"), id="extension"),
    *(pytest.param(SCHEMA_FILE, notification(tenant_id=v), id=f"tenant-{v!r}") for v in ANY),
    pytest.param(
        SCHEMA_FILE,
        notification(scaling_instance__added={"a": 1}, notification_metadata=None),
        id="lifecycle-extra-field",
    ),
]


@pytest.mark.parametrize(("schema", "data"), ACCEPTED)
def test_the_schema_and_the_model_accept_what_elbsync_does_not_read(
    schema: str, data: Schema
) -> None:
    assert verdict(schema, data) == (None, None)


def smn_without(name: str) -> Schema:
    record = smn_record()
    del record["smn"][name]
    return record


REFUSED = [
    pytest.param(SMN_SCHEMA, {"record": 1}, "e.smn", id="smn-missing"),
    pytest.param(SMN_SCHEMA, {"smn": "text"}, "e.smn", id="smn-not-an-object"),
    pytest.param(SMN_SCHEMA, smn_without("message"), "e.smn.message", id="no-message"),
    pytest.param(SMN_SCHEMA, smn_record(message=7), "e.smn.message", id="message-int"),
    pytest.param(SMN_SCHEMA, smn_record(message="x"), "e.smn.message", id="message-x"),
    pytest.param(SMN_SCHEMA, smn_without("message_id"), "e.smn.message_id", id="no-message-id"),
    pytest.param(SMN_SCHEMA, smn_record(message_id="a\n"), "e.smn.message_id", id="id-newline"),
    pytest.param(SMN_SCHEMA, smn_record(message_id="a" * 129), "e.smn.message_id", id="id-long"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(specversion="0.3"), "e.specversion", id="v0.3"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(specversion=1.0), "e.specversion", id="v1"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(id=7), "e.id", id="id-int"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(id=""), "e.id", id="id-empty"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(id="a\x00b"), "e.id", id="id-nul"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(id="\x85"), "e.id", id="id-c1"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(source="s" * 513), "e.source", id="source-long"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(type=""), "e.type", id="type-empty"),
    pytest.param(CLOUDEVENT_SCHEMA, cloudevent(data=[1]), "e.data", id="data-list"),
    pytest.param(
        SCHEMA_FILE,
        notification(lifecycle_hook_type="INSTANCE_REBOOTING"),
        "e.lifecycle_hook_type",
        id="hook-type",
    ),
    pytest.param(
        SCHEMA_FILE,
        notification(lifecycle_hook_name="h" * 33),
        "e.lifecycle_hook_name",
        id="hook-name-long",
    ),
    pytest.param(
        SCHEMA_FILE,
        notification(lifecycle_action_key=".key"),
        "e.lifecycle_action_key",
        id="action-key-dot-first",
    ),
    pytest.param(
        SCHEMA_FILE,
        notification(scaling_instance__instance_id="a/b"),
        "e.scaling_instance.instance_id",
        id="instance-id-slash",
    ),
    pytest.param(
        SCHEMA_FILE,
        notification(scaling_group__scaling_group_name=7),
        "e.scaling_group.scaling_group_name",
        id="group-name-int",
    ),
    pytest.param(
        SCHEMA_FILE,
        notification(notification_metadata="m" * 257),
        "e.notification_metadata",
        id="metadata-long",
    ),
]


@pytest.mark.parametrize(("schema", "data", "field"), REFUSED)
def test_the_schema_and_the_model_refuse_a_mistake_at_the_same_field(
    schema: str, data: Schema, field: str
) -> None:
    assert verdict(schema, data) == (field, field)


# --- the samples obey both -----------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One object inside a sample envelope (the envelope item or its event), where the edge
    would report it, with the schema file and the model it must obey."""

    where: str
    schema: str
    data: object


def payloads(event: dict[str, Any]) -> list[Payload]:
    """Envelope items and the decodable payloads of known types: the rest is for the edge."""
    found: list[Payload] = []
    for i, record in enumerate(event.get("record", [])):
        found.append(Payload(f"record[{i}]", SMN_SCHEMA, record))
        try:
            message = json.loads(record["smn"]["message"])
        except json.JSONDecodeError:
            continue
        found.append(Payload(f"record[{i}].smn.message", SCHEMA_FILE, message))
    cloud_events = event.get("events", [event] if "specversion" in event else [])
    for i, cloud_event in enumerate(cloud_events):
        at = f"events[{i}]" if "events" in event else ""
        found.append(Payload(at, CLOUDEVENT_SCHEMA, cloud_event))
        if cloud_event["type"] in DEPLOYMENT_TYPES:
            where = f"{at}.data" if at else "data"
            found.append(
                Payload(where, DEPLOYMENT_TYPES[cloud_event["type"]][1], cloud_event["data"])
            )
    return found


def edge_refusals(event: dict[str, Any]) -> list[str | None]:
    try:
        items = unwrap(event)
    except InputError as exc:
        return [exc.field or "(envelope)"]
    return [item.error.field for item in items if isinstance(item, Rejected)]


@pytest.mark.parametrize("name", VALID)
def test_every_valid_sample_obeys_both_the_schema_and_the_model(name: str) -> None:
    found = payloads(load_event(name))

    assert len(found) >= 2, "a valid sample carries an envelope and at least one event"
    assert [(p.where, *verdict(p.schema, p.data, p.where)) for p in found] == [
        (p.where, None, None) for p in found
    ]


@pytest.mark.parametrize("name", MALFORMED)
def test_every_malformed_sample_is_refused_by_both_at_the_same_field(name: str) -> None:
    event = load_event(name)
    judged = [(p.where, *verdict(p.schema, p.data, p.where)) for p in payloads(event)]
    refused_by_schema = [schema for _, schema, _ in judged if schema is not None]

    assert [model for _, _, model in judged] == [schema for _, schema, _ in judged]
    edge = edge_refusals(event)
    assert edge, "the edge refuses something in every malformed sample"
    assert set(refused_by_schema) <= set(edge)
