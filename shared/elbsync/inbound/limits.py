"""Limits every trigger event must keep, checked at the edge before any other work.

A trigger hands a handler whatever its producer sent, decoded from JSON. Everything after the
edge (jsonschema, pydantic, the JSON encoding of hashes, records and log lines) recurses, counts
or encodes, so a hostile event could otherwise crash an invocation instead of being refused:
nesting deep enough to exhaust the stack, strings that cannot be encoded as UTF-8 (lone
surrogates), values JSON cannot hold (NaN, huge integers, sets, bytes), or so much data that
every message quoting it becomes megabytes.

The walk is iterative, so no depth of nesting can exhaust the stack while it is checked, and it
stops at the first problem. Only the standard library and :mod:`elbsync.errors` are imported: a
new function instance pays next to nothing for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

from elbsync.errors import InputError

__all__ = [
    "EXCERPT_CHARS",
    "MAX_DEPTH",
    "MAX_ENVELOPE_EVENTS",
    "MAX_EVENT_CHARS",
    "MAX_EVENT_VALUES",
    "MAX_HTTP_EVENT_CHARS",
    "MAX_INTEGER",
    "MAX_PATH_NAME_CHARS",
    "Path",
    "check_event",
    "check_value",
    "excerpt",
    "field_path",
    "json_kind",
    "load_json",
]

#: Deepest nesting of objects and lists; the deepest real event (an EventGrid batch of desired
#: members) nests 5 levels.
MAX_DEPTH = 32
#: Characters of all strings (keys and values) in an SMN, EventGrid or TIMER event. SMN
#: messages and EventGrid events are at most 256 KB; a desired-state event of 1,000 members is
#: about 100 KB.
MAX_EVENT_CHARS = 1 << 20
#: The same for an APIG event: a request body of up to 6 MB, base64-encoded when binary.
MAX_HTTP_EVENT_CHARS = 8 << 20
#: Values (objects, lists and scalars) in one event: 1,000 members of 6 fields each is 7,000.
MAX_EVENT_VALUES = 50_000
#: Events in one envelope (SMN ``record[]``, EventGrid ``events[]``): SMN delivers one record,
#: EventGrid small batches. Each gets a line in the reply, so the reply stays bounded too.
MAX_ENVELOPE_EVENTS = 100
#: Largest magnitude of an integer: 64-bit, what every JSON producer and consumer agrees on.
MAX_INTEGER = 2**63 - 1
#: Characters of a value quoted in a message, and of a field name spelled out in a path.
EXCERPT_CHARS = 80
MAX_PATH_NAME_CHARS = 64

Path = tuple[str | int, ...]


def check_event(event: object, *, max_chars: int = MAX_EVENT_CHARS) -> dict[str, object]:
    """Return ``event`` if it is a JSON object within every limit, else raise
    :class:`~elbsync.errors.InputError` naming an offending field."""
    if not isinstance(event, dict):
        raise InputError(f"must be a JSON object, not {json_kind(event)}", field="(event)")
    check_value(event, at="", max_chars=max_chars)
    return event


def check_value(
    value: object,
    *,
    at: str,
    max_chars: int = MAX_EVENT_CHARS,
    max_values: int = MAX_EVENT_VALUES,
) -> None:
    """Refuse ``value`` (found at path ``at``) unless it is plain JSON within the limits."""
    walk = _Walk(at, max_chars, max_values)
    stack: list[tuple[object, Path]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        stack.extend(reversed(walk.visit(item, parts)))


def load_json(
    text: str,
    *,
    at: str,
    max_chars: int = MAX_EVENT_CHARS,
    max_values: int = MAX_EVENT_VALUES,
) -> object:
    """Decode JSON text found inside an event (an SMN message, a TIMER ``user_event``) or
    named by one (a member list), holding the result to the same limits as the event itself
    (or to larger ones given for a larger document)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"is not JSON ({exc.msg})", field=at) from exc
    except RecursionError as exc:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", field=at) from exc
    except ValueError as exc:  # an integer too long to convert
        raise InputError("holds a number too large to read", field=at) from exc
    check_value(value, at=at, max_chars=max_chars, max_values=max_values)
    return value


class _Walk:
    """The running totals of one check, and what each kind of value must satisfy."""

    def __init__(self, at: str, max_chars: int, max_values: int) -> None:
        self.at = at
        self.chars_left = max_chars
        self.values_left = max_values
        self.max_chars = max_chars
        self.max_values = max_values

    def refuse(self, parts: Path, problem: str) -> InputError:
        return InputError(problem, field=field_path(self.at, parts))

    def visit(self, item: object, parts: Path) -> Sequence[tuple[object, Path]]:
        """Check one value; return its children, still to be visited."""
        self.values_left -= 1
        if self.values_left < 0:
            raise self.refuse(parts, f"holds more than {self.max_values} values in all")
        if isinstance(item, str):
            self.text(item, parts)
            return ()
        if isinstance(item, bool) or item is None:
            return ()
        if isinstance(item, int):
            if abs(item) > MAX_INTEGER:
                raise self.refuse(parts, "is an integer beyond 64 bits")
            return ()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise self.refuse(parts, f"is {item!r}, which JSON cannot hold")
            return ()
        if isinstance(item, list | dict):
            if len(parts) >= MAX_DEPTH:
                raise self.refuse(parts, f"is nested deeper than {MAX_DEPTH} levels")
            if len(item) > self.values_left:
                raise self.refuse(parts, f"holds more than {self.max_values} values in all")
            return self.children(item, parts)
        raise self.refuse(parts, f"is not a JSON value ({json_kind(item)})")

    def children(
        self, item: list[object] | dict[object, object], parts: Path
    ) -> list[tuple[object, Path]]:
        if isinstance(item, list):
            return [(child, (*parts, index)) for index, child in enumerate(item)]
        found: list[tuple[object, Path]] = []
        for key, child in item.items():
            if not isinstance(key, str):
                raise self.refuse(parts, f"has a key that is not a string: {excerpt(key)}")
            self.text(key, (*parts, key))
            found.append((child, (*parts, key)))
        return found

    def text(self, text: str, parts: Path) -> None:
        self.chars_left -= len(text)
        if self.chars_left < 0:
            problem = f"brings the text of the event over {self.max_chars} characters"
            raise self.refuse(parts, problem)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                problem = f"holds {excerpt(text[exc.start : exc.end])}, which is not Unicode text"
                raise self.refuse(parts, problem) from None


def field_path(prefix: str, parts: Iterable[str | int]) -> str:
    """``record[0].smn.message`` style paths: names joined by dots, list indexes in brackets.

    A name that is long or not printable (it came from the caller) is quoted as an excerpt, so
    a path is always short, printable text.
    """
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _path_name(part)
            path += f".{name}" if path else name
    return path or "(event)"


def _path_name(name: str) -> str:
    if len(name) <= MAX_PATH_NAME_CHARS and name.isprintable():
        return name
    return excerpt(name, MAX_PATH_NAME_CHARS // 2)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable rendering of ``value`` for a message, whatever its size.

    Strings are quoted (control characters and lone surrogates escaped) and cut after ``limit``
    characters; objects and lists are described, never rendered, so neither their size nor
    their depth matters.
    """
    if isinstance(value, str):
        shown = repr(value[:limit])
        return shown if len(value) <= limit else f"{shown}… ({len(value)} characters)"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, list | tuple):
        return f"a list of {_counted(len(value), 'item')}"
    if isinstance(value, dict):
        return f"an object with {_counted(len(value), 'field')}"
    return json_kind(value)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def json_kind(value: object) -> str:
    """What ``value`` is, in JSON's words where it is JSON at all."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"
