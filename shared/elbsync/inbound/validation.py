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
        first = errors[0]
        raise InputError(first.message, field=field_path(at, first.absolute_path))


def parse(model: type[M], instance: object, *, at: str) -> M:
    """Build the pydantic model; a refusal names the field path like the schema check does."""
    try:
        return model.model_validate(instance)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], field=field_path(at, first["loc"])) from exc
