"""Sample events from ``events/``, named by their path without ``.json``.

``load_event("member_events/smn_launching")`` reads ``events/member_events/smn_launching.json``.
Tests load the real files, so what a test exercises is what an operator can invoke.
``events/member_lists/`` holds the member lists the by-reference samples name (uploaded to the
state store as ``inputs/<file name>``): ``load_member_list("pool-static")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"
MEMBER_LISTS = EVENTS / "member_lists"


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


def load_member_list(name: str) -> bytes:
    """The bytes of ``events/member_lists/<name>.json``, as an operator would upload them."""
    return (MEMBER_LISTS / f"{name}.json").read_bytes()


def member_list_names() -> list[str]:
    return sorted(path.stem for path in MEMBER_LISTS.glob("*.json"))
