"""Edge validation against the published JSON Schemas in ``schemas/``.

The files are generated from the models (:mod:`elbsync.inbound.published`, ``make schemas``);
this module reads the committed files and never generates one.

jsonschema is imported on first use only: it is heavy, and only the paths that validate pay.

A refusal quotes at most an excerpt of the offending value (jsonschema's own messages quote all
of it, which turns a 1 MB field into a 1 MB reply), and patterns follow the JSON Schema
(ECMA-262) meaning of ``$``, the end of the text, as pydantic's patterns do.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from elbsync.errors import InputError
from elbsync.inbound.limits import MAX_DEPTH, excerpt, field_path

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError
    from jsonschema.protocols import Validator

__all__ = ["check", "load_schema", "parse"]

M = TypeVar("M", bound=BaseModel)

#: A jsonschema message longer than this is replaced by one that quotes an excerpt.
MAX_SCHEMA_MESSAGE_CHARS = 200


def load_schema(name: str) -> dict[str, object]:
    text = resources.files("elbsync.inbound").joinpath("schemas").joinpath(name).read_text("utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    validator: Validator = _validator_class()(schema)
    return validator


@functools.cache
def _validator_class() -> type[Validator]:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    kind: type[Validator] = extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern}
    )
    return kind


def _pattern(
    validator: Validator, pattern: str, instance: object, schema: object
) -> Iterator[SchemaError]:
    """The ``pattern`` keyword with ECMA-262's ``$``: Python's also matches before a final
    newline, which would let ``"id\\n"`` through ``^[a-z]+$``."""
    from jsonschema import exceptions

    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield exceptions.ValidationError(f"does not match {pattern!r}")


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with a closing ``$`` anchored at the very end of the text."""
    if pattern.endswith("$"):
        body = pattern[:-1]
        escaped = (len(body) - len(body.rstrip("\\"))) % 2 == 1
        pattern = pattern if escaped else body + r"\Z"
    return re.compile(pattern)


def check(instance: object, schema_name: str, *, at: str) -> None:
    """Raise :class:`InputError` naming the field path of the first schema violation."""
    found = _validator(schema_name).iter_errors(instance)  # type: ignore[arg-type]
    try:
        errors = sorted(found, key=lambda error: [str(part) for part in error.path])
    except RecursionError as exc:  # only when ``instance`` skipped the edge limits
        problem = f"is nested deeper than {MAX_DEPTH} levels"
        raise InputError(problem, field=field_path(at, ())) from exc
    if errors:
        message, parts = _located(errors[0])
        raise InputError(message, field=field_path(at, parts))


def _located(error: SchemaError) -> tuple[str, list[str | int]]:
    """A missing or unexpected property is named in the path itself, as pydantic does.

    jsonschema reports both at the enclosing object, which would send a producer looking at
    ``scaling_instance`` instead of ``scaling_instance.instance_id``. A choice of fields and a
    refused pattern get a message that says so instead of quoting the schema.
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
    choice = _choice(wanted) if error.validator == "oneOf" else None
    if isinstance(instance, dict) and choice:
        given = "both are given" if any(n in instance for n in choice) else "neither is given"
        return f"give exactly one of {' and '.join(choice)} ({given})", parts
    if error.validator == "not" and isinstance(wanted, dict) and "pattern" in wanted:
        why = f": {wanted['description']}" if "description" in wanted else ""
        return f"{excerpt(instance)} must not match {excerpt(wanted['pattern'])}{why}", parts
    return _message(error), parts


def _choice(branches: object) -> list[str] | None:
    """The fields of a ``oneOf`` whose branches each require one field: "exactly one of"."""
    if not isinstance(branches, list):
        return None
    names = [
        b.get("required") if isinstance(b, dict) and set(b) == {"required"} else None
        for b in branches
    ]
    if not all(isinstance(n, list) and len(n) == 1 for n in names):
        return None
    return [str(n[0]) for n in names if isinstance(n, list)]


_MESSAGES = {
    "type": "{value} is not of type {wanted}",
    "enum": "{value} is not one of {wanted}",
    "const": "{wanted} was expected",
    "pattern": "{value} does not match {wanted}",
    "minLength": "{value} is shorter than {wanted} characters",
    "maxLength": "{value} is longer than {wanted} characters",
    "minItems": "{value} has fewer than {wanted} items",
    "maxItems": "{value} has more than {wanted} items",
    "minimum": "{value} is less than the minimum of {wanted}",
    "maximum": "{value} is greater than the maximum of {wanted}",
    "exclusiveMinimum": "{value} is not greater than {wanted}",
    "exclusiveMaximum": "{value} is not less than {wanted}",
}


def _message(error: SchemaError) -> str:
    """What is wrong, quoting an excerpt of the value instead of all of it."""
    template = _MESSAGES.get(str(error.validator))
    if template is not None:
        return template.format(value=excerpt(error.instance), wanted=_listed(error.validator_value))
    if len(error.message) <= MAX_SCHEMA_MESSAGE_CHARS:
        return error.message
    return f"{excerpt(error.instance)} is not valid here ({excerpt(error.validator)})"


def _listed(wanted: object) -> str:
    """A keyword's value as the schema gives it: numbers bare, text quoted."""
    if isinstance(wanted, list):
        return ", ".join(excerpt(value) for value in wanted)
    return excerpt(wanted)


def parse(model: type[M], instance: object, *, at: str) -> M:
    """Build the pydantic model; a refusal names the field path like the schema check does."""
    try:
        return model.model_validate(instance)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], field=field_path(at, first["loc"])) from exc
