"""The published JSON Schemas of ``schemas/``, generated from the models of what they describe.

Each event's schema comes from its model (:mod:`elbsync.inbound.lifecycle`,
:mod:`elbsync.inbound.deployments`); the two envelopes get models here, for publishing only:
the parser (:mod:`elbsync.inbound.envelopes`) checks them with the schemas alone. The edge
validates with the committed files and never imports this module; a test fails when a file
is stale. Rewrite them with ``make schemas``:

    python -m elbsync.inbound.published            # list stale files, exit 1 if any
    python -m elbsync.inbound.published --write    # rewrite them

The files keep the shape the edge's refusals are worded for (:mod:`elbsync.inbound.validation`):
every node inline (no ``$defs``), an optional field as a type list with ``null`` rather than an
``anyOf``, no titles that only repeat a name, and keywords in one fixed order. jsonschema checks
keywords in the schema's order and the edge reports the first refusal at a field, so the order
decides what a producer is told: a wrong type before a bound, a missing field before "exactly
one of".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from elbsync.inbound.deployments import DEPLOYMENT_TYPES
from elbsync.inbound.envelopes import CLOUDEVENT_SCHEMA, SMN_SCHEMA
from elbsync.inbound.lifecycle import SCHEMA_FILE, LifecycleNotification, Unread

__all__ = [
    "FOLDER",
    "CloudEvent",
    "SmnRecord",
    "main",
    "published_models",
    "published_schemas",
    "render",
]

FOLDER = Path(__file__).with_name("schemas")
DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://elbsync.dev/schemas/"
#: No control characters (C0, DEL, C1): the id and source name records and log lines.
PRINTABLE = r"^[^\x00-\x1F\x7F-\x9F]+$"

#: Keywords in the order jsonschema checks them (it follows the schema's own order): what a
#: value is, then which fields it has, then its bounds, then what is inside. Others follow.
KEYWORD_ORDER = (
    "$schema",
    "$id",
    "title",
    "description",
    "const",
    "enum",
    "type",
    "additionalProperties",
    "required",
    "oneOf",
    "anyOf",
    "minLength",
    "maxLength",
    "pattern",
    "not",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "items",
    "properties",
    "default",
)
#: Keywords that constrain values of one type only (or none): a node of these alone takes
#: ``null`` too by naming it in its ``type``, as ``anyOf`` with ``null`` would.
_TYPED_KEYWORDS = frozenset(
    {
        "type",
        "title",
        "description",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "items",
        "required",
        "additionalProperties",
        "properties",
    }
)


class _Envelope(BaseModel):
    """Open: fields the platform may add, and CloudEvents extension attributes, are accepted."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class SmnMessage(_Envelope):
    """The ``smn`` object of a record."""

    topic_urn: Unread = None
    timestamp: Unread = None
    message_attributes: Unread = None
    message: str = Field(min_length=2)
    type: Unread = None
    message_id: str = Field(min_length=1, max_length=128, pattern=PRINTABLE)
    subject: Unread = None


class SmnRecord(_Envelope):
    """One item of an SMN trigger's ``record[]``: elbsync reads ``smn.message`` and its id."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "SMN trigger record",
            "description": (
                "One item of the record[] list that an SMN trigger delivers to FunctionGraph. "
                "elbsync reads smn.message (a JSON string) and smn.message_id (the message's "
                "identity); every other field is accepted whatever its value."
            ),
        }
    )

    event_version: Unread = None
    event_source: Unread = None
    event_subscription_urn: Unread = None
    smn: SmnMessage


class CloudEvent(_Envelope):
    """A structured-mode CloudEvent, bare or in EventGrid's ``events[]``."""

    model_config = ConfigDict(
        json_schema_extra={
            "title": "CloudEvent 1.0 envelope",
            "description": (
                "A structured-mode CloudEvent with a JSON object as data, as EventGrid delivers "
                "it or as a direct call sends it. source and id together name the event "
                "(CloudEvents' identity), in records and logs, so they hold no control "
                "characters and are bounded. Attributes elbsync does not read (subject, time, "
                "dataschema, datacontenttype and any extension) are accepted whatever their value."
            ),
        }
    )

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=128, pattern=PRINTABLE)
    source: str = Field(min_length=1, max_length=512, pattern=PRINTABLE)
    type: str = Field(min_length=1)
    subject: Unread = None
    time: Unread = None
    datacontenttype: Unread = None
    dataschema: Unread = None
    data: dict[str, JsonValue]


def published_models() -> dict[str, type[BaseModel]]:
    """Every published schema file and the model it is generated from, by file name."""
    models: dict[str, type[BaseModel]] = {
        SMN_SCHEMA: SmnRecord,
        CLOUDEVENT_SCHEMA: CloudEvent,
        SCHEMA_FILE: LifecycleNotification,
    }
    models.update({file: model for model, file in DEPLOYMENT_TYPES.values()})
    return dict(sorted(models.items()))


def published_schemas() -> dict[str, dict[str, object]]:
    """Every published schema, by file name, as the committed files should hold it."""
    schemas: dict[str, dict[str, object]] = {}
    for name, model in published_models().items():
        schema = model.model_json_schema(schema_generator=_PublishedSchema)
        schemas[name] = _ordered({"$schema": DIALECT, "$id": BASE_ID + name, **schema})
    return schemas


def render(schema: Mapping[str, object]) -> str:
    """The text of a schema file: two-space indents, a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


class _PublishedSchema(GenerateJsonSchema):
    """pydantic's schema in the published shape: see the module's docstring."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated = super().generate(schema, mode)
        definitions = generated.pop("$defs", {})
        inline: JsonSchemaValue = _inlined(generated, definitions, ())
        return inline

    def field_title_should_be_set(self, schema: object) -> bool:
        return False  # a field's title would only repeat its name

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        """No ``null`` default: leaving the field out already says it, and where ``null`` is
        refused (``members``, ``members_key``) it would be wrong."""
        generated = super().default_schema(schema)
        if "default" in generated and generated["default"] is None:
            del generated["default"]
        return generated

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        kind = inner.get("type")
        if isinstance(kind, str) and kind != "null" and set(inner) <= _TYPED_KEYWORDS:
            return {**inner, "type": [kind, "null"]}
        if inner == {"type": "null"}:
            return inner
        return {"anyOf": [inner, {"type": "null"}]}


def _inlined(node: object, definitions: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    """``node`` with each ``$ref`` replaced by its definition. A nested model is described by the
    field that holds it: its title (the class name) and docstring are not published."""
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/$defs/")
        if name in seen or name not in definitions:
            raise ValueError(f"cannot publish {ref} inline (recursive or unknown)")
        target = {k: v for k, v in definitions[name].items() if k not in ("title", "description")}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _inlined({**target, **siblings}, definitions, (*seen, name))
    inline = _walk(node, lambda sub: _inlined(sub, definitions, seen))
    if inline.get("additionalProperties") == {}:  # any value: as if it were not there
        del inline["additionalProperties"]
    return inline


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its keywords in :data:`KEYWORD_ORDER`, others after them by name."""
    rank = {keyword: i for i, keyword in enumerate(KEYWORD_ORDER)}
    keys = sorted(node, key=lambda k: (rank.get(k, len(rank)), k))
    return _walk({k: node[k] for k in keys}, _ordered)


def _walk(node: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """``node`` with ``change`` applied to each of its subschemas (not to values or names)."""
    out = dict(node)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: change(sub) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
            out[key] = change(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [change(branch) for branch in value]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the stale files")
    args = parser.parse_args(argv)
    texts = {name: render(schema) for name, schema in published_schemas().items()}
    stale = [name for name, text in texts.items() if _committed(name) != text]
    for name in stale:
        if args.write:
            (FOLDER / name).write_text(texts[name], "utf-8")
            print(f"wrote {FOLDER / name}")
        else:
            print(f"stale: {FOLDER / name} (run `make schemas`)")
    orphans = sorted(path for path in FOLDER.iterdir() if path.name not in texts)
    for path in orphans:
        print(f"not generated by any model: {path}", file=sys.stderr)
    return 1 if orphans or (stale and not args.write) else 0


def _committed(name: str) -> str | None:
    path = FOLDER / name
    return path.read_text("utf-8") if path.is_file() else None


if __name__ == "__main__":
    raise SystemExit(main())
