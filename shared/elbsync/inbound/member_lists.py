"""Member lists by reference: the object a deployment event names in ``members_key``.

An EventGrid event is at most 64 KB, about 1,000 members. A register, deregister or
desired-state event may instead name an object in the state store that holds its members (up
to :data:`~elbsync.inbound.deployments.MAX_MEMBERS_BY_REFERENCE`), and the object is read here
when the event is handled:

- its content is a JSON array of member entries, or an object ``{"members": [...]}``;
- each entry is checked by the model of an inline entry (:class:`MemberSpec`; an
  :class:`Endpoint` for a deregister event), and no member may be listed twice;
- it is decoded under the edge limits (:mod:`elbsync.inbound.limits`), with bounds sized for a
  list of the maximum length instead of an event's.

A missing object, content that is not such a list, or a bad entry is the event's fault: an
:class:`~elbsync.errors.InputError` at field ``members_key`` (relative to the event's data)
whose message names the object and the path inside it. A store that cannot be read is not the
event's fault: its error propagates, so the invocation fails and the event is delivered again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import structlog
from pydantic import TypeAdapter, ValidationError

from elbsync.errors import InputError
from elbsync.inbound.deployments import (
    MAX_MEMBERS_BY_REFERENCE,
    Deregister,
    Desired,
    Endpoint,
    MemberSpec,
    Register,
)
from elbsync.inbound.limits import field_path, json_kind, load_json

if TYPE_CHECKING:
    from elbsync.deadline import Deadline
    from elbsync.state.store import ObjectStore

__all__ = [
    "FIELD",
    "MAX_MEMBER_LIST_BYTES",
    "MAX_MEMBER_LIST_VALUES",
    "endpoints_of",
    "members_of",
    "read_list",
]

_log = structlog.get_logger("elbsync.member_lists")

E = TypeVar("E", bound=Endpoint)

#: Largest member list object, in bytes. 10,000 entries of every field (a 255-character name
#: included) come to about 4 MiB; an event is held to 1 MiB.
MAX_MEMBER_LIST_BYTES = 8 << 20
#: Values in one list: an entry is an object of at most five fields, six values in all.
MAX_MEMBER_LIST_VALUES = 8 * MAX_MEMBERS_BY_REFERENCE + 2
#: The field every refusal is reported at, relative to the event's data.
FIELD = "members_key"


def members_of(
    event: Register | Desired, store: ObjectStore, *, deadline: Deadline | None = None
) -> Sequence[MemberSpec]:
    """The members a register or desired-state event names, inline or by reference."""
    if event.members_key is None:
        return event.members or []
    allow_empty = isinstance(event, Desired)
    return read_list(
        store, event.members_key, MemberSpec, allow_empty=allow_empty, deadline=deadline
    )


def endpoints_of(
    event: Deregister, store: ObjectStore, *, deadline: Deadline | None = None
) -> Sequence[Endpoint]:
    """The members a deregister event names, inline or by reference."""
    if event.members_key is None:
        return event.members or []
    return read_list(store, event.members_key, Endpoint, allow_empty=False, deadline=deadline)


def read_list(
    store: ObjectStore,
    key: str,
    item: type[E],
    *,
    allow_empty: bool,
    deadline: Deadline | None = None,
) -> list[E]:
    """The entries of the member list at ``key``, each checked as ``item``."""
    stored = store.get(key, deadline=deadline)
    if stored is None:
        raise _refused(key, "", "no such object in the state store")
    if len(stored.data) > MAX_MEMBER_LIST_BYTES:
        problem = f"is {len(stored.data)} bytes; at most {MAX_MEMBER_LIST_BYTES}"
        raise _refused(key, "", problem)
    items, inner = _entries(key, _decoded(key, stored.data))
    if len(items) > MAX_MEMBERS_BY_REFERENCE:
        problem = f"holds {len(items)} members; at most {MAX_MEMBERS_BY_REFERENCE}"
        raise _refused(key, inner, problem)
    if not items and not allow_empty:
        raise _refused(key, inner, "holds no members")
    members = _checked(key, inner, items, item)
    _log.info("member_list_read", key=key, etag=stored.etag, members=len(members))
    return members


def _decoded(key: str, data: bytes) -> object:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refused(key, "", "is not UTF-8 text") from None
    try:
        return load_json(
            text, at="", max_chars=MAX_MEMBER_LIST_BYTES, max_values=MAX_MEMBER_LIST_VALUES
        )
    except InputError as exc:
        inner = "" if exc.field in (None, "(event)") else str(exc.field)
        raise _refused(key, inner, exc.problem) from exc


def _entries(key: str, content: object) -> tuple[list[object], str]:
    """The list of entries, and where it is in the object (``members``, or the top)."""
    if isinstance(content, list):
        return content, ""
    if not isinstance(content, dict):
        expected = 'must be a JSON array of members or an object {"members": [...]}'
        raise _refused(key, "", f"{expected}, not {json_kind(content)}")
    unexpected = sorted(name for name in content if name != "members")
    if unexpected:
        raise _refused(key, field_path("", unexpected[:1]), "is not a field of a member list")
    if "members" not in content:
        raise _refused(key, "members", "is required")
    items = content["members"]
    if not isinstance(items, list):
        raise _refused(key, "members", f"must be an array, not {json_kind(items)}")
    return items, "members"


def _checked(key: str, inner: str, items: list[object], item: type[E]) -> list[E]:
    try:
        members = _adapter(item).validate_python(items)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _refused(key, field_path(inner, first["loc"]), first["msg"]) from exc
    seen: set[tuple[str, int]] = set()
    for index, member in enumerate(members):
        if member.key in seen:
            where = field_path(inner, [index])
            raise _refused(key, where, f"{member.address}:{member.protocol_port} is listed twice")
        seen.add(member.key)
    return members


@functools.cache
def _adapter(item: type[E]) -> TypeAdapter[list[E]]:
    return TypeAdapter(list[item])  # type: ignore[valid-type]


def _refused(key: str, inner: str, problem: str) -> InputError:
    where = f"{inner}: " if inner else ""
    return InputError(f"object {key!r}: {where}{problem}", field=FIELD)
