"""Trigger envelopes: SMN ``record[]``, EventGrid ``{"events": [...]}`` or one CloudEvent.

:func:`unwrap` turns any of them into :class:`Inbound` items, one per event, each validated
against its published schema. An unknown shape is refused with a message that names the shapes
accepted. The event itself was held to :mod:`elbsync.inbound.limits` before it got here; the SMN
message inside it is JSON text, decoded under the same limits.

Each item carries its identity (:attr:`Inbound.identity`): an SMN message is named by its
``message_id``; a CloudEvent by its ``source`` and ``id`` together, as the CloudEvents
specification defines, whichever envelope brought it. Envelope fields elbsync never reads are
not checked at all, so a producer's extra attribute cannot cost it an event.

The envelopes are checked with their published schemas alone; the models those are generated
from live in :mod:`elbsync.inbound.published`, which nothing here imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal

from elbsync.errors import InputError
from elbsync.inbound.limits import MAX_ENVELOPE_EVENTS, excerpt, load_json
from elbsync.inbound.validation import check

__all__ = [
    "CLOUDEVENT_SCHEMA",
    "LIFECYCLE_EVENT_TYPE",
    "SMN_SCHEMA",
    "Inbound",
    "Rejected",
    "Source",
    "unwrap",
]

Source = Literal["smn", "eventgrid", "direct"]
#: The namespace of the identity of a CloudEvent: the same for every envelope that carries it.
CLOUDEVENT_NAMESPACE = "cloudevent"

EXPECTED = (
    'expected an SMN trigger event {"record": [...]}, an EventGrid event {"events": [...]}, '
    'or one CloudEvent {"specversion": "1.0", "id": ..., "type": ..., "data": {...}}'
)
CLOUDEVENT_SCHEMA = "cloudevent.schema.json"
LIFECYCLE_EVENT_TYPE = "autoscaling.lifecycle"
SMN_SCHEMA = "smn-record.schema.json"


@dataclass(frozen=True)
class Inbound:
    """One event out of an envelope, with the path it came from (for error messages).

    ``at`` is the path of the event's payload (``record[1].smn.message``, ``events[0].data``),
    ``id_field`` the path of its id (for a refusal about the id), ``origin`` a CloudEvent's
    ``source`` (empty for SMN).
    """

    event_id: str
    type: str
    data: Mapping[str, object]
    source: Source
    at: str
    id_field: str
    origin: str = ""

    @property
    def identity(self) -> tuple[str, str]:
        """``(namespace, id)`` naming the event once, however often it is delivered."""
        if self.source == "smn":
            return ("smn", self.event_id)
        return (f"{CLOUDEVENT_NAMESPACE}:{self.origin}", self.event_id)


@dataclass(frozen=True)
class Rejected:
    """An event of the envelope that could not be read: the others still run.

    ``event_id`` is its id if it had a readable one (for the log lines), else ``None``.
    """

    at: str
    error: InputError
    event_id: object = None


def unwrap(event: object) -> list[Inbound | Rejected]:
    if not isinstance(event, Mapping):
        raise InputError(EXPECTED, field="(event)")
    if "record" in event:
        return [
            _guard(f"record[{i}]", partial(_smn, f"record[{i}]", item), _smn_id(item))
            for i, item in enumerate(_listed(event, "record", "SMN records"))
        ]
    if "events" in event:
        events = _listed(event, "events", "CloudEvents")
        return [
            _guard(
                f"events[{i}]",
                partial(_cloudevent, f"events[{i}]", item, "eventgrid"),
                _cloudevent_id(item),
            )
            for i, item in enumerate(events)
        ]
    if "specversion" in event:
        source: Source = "eventgrid" if str(event.get("source", "")).startswith("HC.") else "direct"
        return [_guard("", partial(_cloudevent, "", event, source), _cloudevent_id(event))]
    raise InputError(EXPECTED, field="(event)")


def _listed(event: Mapping[str, object], name: str, what: str) -> list[object]:
    """The envelope's list of events under ``name``: not empty, and not too long."""
    items = event[name]
    if not isinstance(items, list) or not items:
        raise InputError(f"must be a non-empty list of {what}", field=name)
    if len(items) > MAX_ENVELOPE_EVENTS:
        raise InputError(f"holds {len(items)} events; at most {MAX_ENVELOPE_EVENTS}", field=name)
    return items


def _guard(at: str, read: Callable[[], Inbound], event_id: object) -> Inbound | Rejected:
    try:
        return read()
    except InputError as exc:
        return Rejected(at=at or "(event)", error=exc, event_id=event_id)


def _smn_id(record: object) -> object:
    smn = record.get("smn") if isinstance(record, Mapping) else None
    return smn.get("message_id") if isinstance(smn, Mapping) else None


def _cloudevent_id(event: object) -> object:
    return event.get("id") if isinstance(event, Mapping) else None


def _smn(at: str, record: object) -> Inbound:
    check(record, SMN_SCHEMA, at=at)
    assert isinstance(record, Mapping)
    smn = record["smn"]
    assert isinstance(smn, Mapping)
    message_at = f"{at}.smn.message"
    message = load_json(str(smn["message"]), at=message_at)
    if not isinstance(message, dict) or message.get("service") != "AutoScaling":
        raise InputError(
            "is not an Auto Scaling lifecycle notification (service must be AutoScaling)",
            field=message_at,
        )
    from elbsync.inbound.lifecycle import SCHEMA_FILE

    check(message, SCHEMA_FILE, at=message_at)
    return Inbound(
        event_id=str(smn["message_id"]),
        type=LIFECYCLE_EVENT_TYPE,
        data=message,
        source="smn",
        at=message_at,
        id_field=f"{at}.smn.message_id",
    )


def _cloudevent(at: str, event: object, source: Source) -> Inbound:
    from elbsync.inbound.deployments import DEPLOYMENT_TYPES

    check(event, CLOUDEVENT_SCHEMA, at=at)
    assert isinstance(event, Mapping)
    kind = str(event["type"])
    type_at = _within(at, "type")
    if kind not in DEPLOYMENT_TYPES:
        known = ", ".join(sorted(DEPLOYMENT_TYPES))
        problem = f"unknown event type {excerpt(kind)}; expected one of {known}"
        raise InputError(problem, field=type_at)
    data_at = _within(at, "data")
    data = event["data"]
    check(data, DEPLOYMENT_TYPES[kind][1], at=data_at)
    assert isinstance(data, Mapping)
    return Inbound(
        event_id=str(event["id"]),
        type=kind,
        data=data,
        source=source,
        at=data_at,
        id_field=_within(at, "id"),
        origin=str(event["source"]),
    )


def _within(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name
