"""Edge validation against the published JSON Schemas in ``schemas/``.

jsonschema is imported on first use only: it is heavy, and only the paths that validate pay.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from elbsync.errors import InputError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError
    from jsonschema.protocols import Validator

M = TypeVar("M", bound=BaseModel)


def field_path(prefix: str, parts: Iterable[str | int]) -> str:
    """``record[0].smn.message`` style paths: names joined by dots, list indexes in brackets."""
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(event)"


def load_schema(name: str) -> dict[str, object]:
    text = resources.files("elbsync.inbound").joinpath("schemas").joinpath(name).read_text("utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(instance: object, schema_name: str, *, at: str) -> None:
    """Raise :class:`InputError` naming the field path of the first schema violation."""
    found = _validator(schema_name).iter_errors(instance)  # type: ignore[arg-type]
    errors = sorted(found, key=lambda error: [str(part) for part in error.path])
    if errors:
        message, parts = _located(errors[0])
        raise InputError(message, field=field_path(at, parts))


def _located(error: SchemaError) -> tuple[str, list[str | int]]:
    """A missing or unexpected property is named in the path itself, as pydantic does.

    jsonschema reports both at the enclosing object, which would send a producer looking at
    ``scaling_instance`` instead of ``scaling_instance.instance_id``.
    """
    parts: list[str | int] = list(error.absolute_path)
    instance = error.instance
    wanted = error.validator_value
    if isinstance(instance, dict) and error.validator == "required" and isinstance(wanted, list):
        missing = [name for name in wanted if name not in instance]
        if missing:
            return "is required", [*parts, missing[0]]
    if isinstance(instance, dict) and error.validator == "additionalProperties":
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unexpected = [name for name in instance if name not in known]
        if unexpected:
            return "is not a field of this object", [*parts, unexpected[0]]
    return error.message, parts


def parse(model: type[M], instance: object, *, at: str) -> M:
    """Build the pydantic model; a refusal names the field path like the schema check does."""
    try:
        return model.model_validate(instance)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], field=field_path(at, first["loc"])) from exc
