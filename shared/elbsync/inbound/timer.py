"""Options a TIMER trigger may carry for check_poller, as JSON text in ``user_event``.

``{"expire": true}`` also deletes finished records past their age this tick. A bad
configuration never stalls the poller: text that is not JSON, a value that is not an object, an
unknown option or an option of the wrong type is reported as a warning (once per tick, in the
log and in the reply) and the tick runs with the options that were valid. The text is decoded
under the event limits (:func:`~elbsync.inbound.limits.load_json`), so no nesting, number or
character in it can crash the tick; every warning quotes at most an excerpt of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from elbsync.errors import InputError
from elbsync.inbound.limits import excerpt, field_path, load_json

__all__ = ["FIELD", "KNOWN", "TimerOptions", "timer_options"]

FIELD = "user_event"
#: Every option a TIMER ``user_event`` may set, with its JSON type.
KNOWN: dict[str, type] = {"expire": bool}


@dataclass(frozen=True)
class TimerOptions:
    expire: bool = False
    #: What was wrong with the configuration (each names its field); the tick ran anyway.
    warnings: list[dict[str, object]] = field(default_factory=list)


def timer_options(event: object) -> TimerOptions:
    """The options of a TIMER event; only an event that is not a JSON object is refused."""
    if not isinstance(event, Mapping):
        raise InputError("must be a JSON object (a TIMER trigger event)", field="(event)")
    text = event.get(FIELD)
    if text is None or (isinstance(text, str) and not text.strip()):
        return TimerOptions()
    if not isinstance(text, str):
        return _ignored(InputError(f"{excerpt(text)} is not JSON text", field=FIELD))
    try:
        options = load_json(text, at=FIELD)
    except InputError as exc:
        return _ignored(exc)
    if not isinstance(options, dict):
        problem = f"{excerpt(options)} is not a JSON object of options ({_known()})"
        return _ignored(InputError(problem, field=FIELD))
    warnings: list[dict[str, object]] = []
    valid: dict[str, object] = {}
    for name, value in options.items():
        wanted = KNOWN.get(name)
        where = field_path(FIELD, [name])
        if wanted is None:
            problem = f"is not an option ({_known()}); ignored"
            warnings.append(InputError(problem, field=where).to_dict())
        elif not isinstance(value, wanted):
            problem = f"{excerpt(value)} is not a {_json_type(wanted)}; ignored"
            warnings.append(InputError(problem, field=where).to_dict())
        else:
            valid[name] = value
    return TimerOptions(expire=valid.get("expire") is True, warnings=warnings)


def _ignored(error: InputError) -> TimerOptions:
    return TimerOptions(warnings=[error.to_dict()])


def _known() -> str:
    return "known: " + ", ".join(sorted(KNOWN))


def _json_type(kind: type) -> str:
    return {bool: "boolean", int: "number", str: "string"}.get(kind, kind.__name__)
