"""Sample events from ``events/``, named by their path without ``.json``.

``load_event("member_events/smn_launching")`` reads ``events/member_events/smn_launching.json``.
Tests load the real files, so what a test exercises is what an operator can invoke.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    path = EVENTS / f"{name}.json"
    event = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(event, dict):
        raise TypeError(f"{path} holds a {type(event).__name__}, not a JSON object")
    return event


def event_names(prefix: str = "") -> list[str]:
    """Every sample whose name starts with ``prefix``, sorted (``"member_events/malformed_"``)."""
    names = (path.relative_to(EVENTS).with_suffix("").as_posix() for path in EVENTS.rglob("*.json"))
    return sorted(name for name in names if name.startswith(prefix))
