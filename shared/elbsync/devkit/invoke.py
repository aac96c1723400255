"""``elbsync invoke``: run a function's handler in this process, as FunctionGraph would."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import cast

from elbsync.devkit.context import LocalContext
from elbsync.errors import InputError

__all__ = [
    "FUNCTIONS",
    "Handler",
    "functions_dir",
    "invoke",
    "load_handler",
    "read_event",
    "reply_failed",
]

Handler = Callable[[object, LocalContext], object]
FUNCTIONS = ("member_events", "check_poller", "http_api")


def functions_dir() -> Path:
    """``functions/`` of the checkout: next to the current directory, else next to the package."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = root / "functions"
        if (candidate / "member_events" / "index.py").is_file():
            return candidate
    raise InputError(
        "cannot find functions/<name>/index.py; use --functions-dir", field="functions"
    )


def load_handler(function: str, directory: Path | None = None) -> Handler:
    """Import ``functions/<function>/index.py`` under a private name and return its handler."""
    path = (directory or functions_dir()) / function / "index.py"
    if not path.is_file():
        raise InputError(f"no handler at {path}", field="function")
    spec = importlib.util.spec_from_file_location(f"elbsync_function_{function}", path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load {path}", field="function")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Handler, module.handler)


def read_event(source: str) -> object:
    """The event from a JSON file, or from standard input when ``source`` is ``-``."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read event: {exc.strerror}", field="--event") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at line {exc.lineno}", field="--event") from exc


def invoke(
    function: str,
    event: object,
    *,
    timeout_s: float = 30.0,
    directory: Path | None = None,
) -> object:
    """Call the handler once with a fresh local context; returns what the handler returned."""
    handler = load_handler(function, directory)
    return handler(event, LocalContext(function, timeout_s=timeout_s))


def reply_failed(reply: object) -> bool:
    """Whether a reply reports failure (``ok: false`` or an APIG status of 400 and above)."""
    if not isinstance(reply, dict):
        return False
    status = reply.get("statusCode")
    return reply.get("ok") is False or (isinstance(status, int) and status >= 400)
