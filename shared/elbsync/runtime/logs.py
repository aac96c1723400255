"""Structured logging: configured once, JSON lines in the cloud, readable on a terminal.

Every line of an invocation carries ``function_name``, ``request_id``, ``cold_start`` and
``correlation_id`` (bound per invocation through ``contextvars`` and cleared at the start of the
next, which matters in warm containers). The :func:`redact` processor removes access keys,
secret keys, tokens, ``Authorization`` values and signatures wherever they appear, and then
:func:`truncate` bounds every value, so no line grows with what a caller sent.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Literal, TextIO

import structlog

__all__ = [
    "MAX_KNOWN_SECRETS",
    "MAX_LOG_DEPTH",
    "MAX_LOG_TRACEBACK_CHARS",
    "MAX_LOG_VALUE_CHARS",
    "REDACTED",
    "bind_invocation",
    "configure",
    "redact",
    "register_secret",
    "truncate",
]

REDACTED = "***"
#: Longest string value a log line keeps; a longer one keeps its head and says what was cut.
MAX_LOG_VALUE_CHARS = 2000
#: A traceback keeps its tail instead: the error and the innermost frames are what matter.
MAX_LOG_TRACEBACK_CHARS = 8000
#: Nesting kept in a logged value; deeper objects and lists are only described.
MAX_LOG_DEPTH = 8

# Keys whose values are secrets, whatever the nesting (``access_key``, ``X-Auth-Token``, ...).
_SECRET_KEY = re.compile(
    r"(?i)^(ak|sk|.*access[_-]?key(_id)?|.*api[_-]?keys?|.*secret.*|.*token|authorization|"
    r".*signature|"
    r"password|credentials?|x-amz-credential)$"
)
# Secrets inside free text: signed Authorization values, header lines, query parameters.
_SECRET_TEXT = [
    (
        re.compile(
            r"(?i)\b(Access|Credential|Signature|X-Amz-Signature|X-Amz-Credential|"
            r"AccessKeyId|X-Amz-Security-Token)=[^,&\s\"']+"
        ),
        r"\1=" + REDACTED,
    ),
    (re.compile(r"(?i)\b(OBS|AWS)\s+[A-Za-z0-9]+:[A-Za-z0-9+/=]+"), r"\1 " + REDACTED),
    (
        re.compile(
            r"(?i)\b(x-auth-token|x-security-token|x-obs-security-token|x-api-key|"
            r"x-amz-security-token|authorization)(\"?\s*[:=]\s*\"?)[^\s\",}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"MII[A-Za-z0-9+/=_-]{60,}"), REDACTED),  # IAM tokens
]
#: Exact secret values redacted from text: the most recent credentials this process used.
#: Temporary credentials rotate, so the oldest are forgotten rather than kept forever.
MAX_KNOWN_SECRETS = 32
_known_secrets: OrderedDict[str, None] = OrderedDict()
_known_lock = threading.Lock()
_configured = False


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears (credentials, tokens), as long as it is one
    of the :data:`MAX_KNOWN_SECRETS` most recently registered."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets[value] = None
            _known_secrets.move_to_end(value)
            while len(_known_secrets) > MAX_KNOWN_SECRETS:
                _known_secrets.popitem(last=False)


def _clean_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    with _known_lock:
        secrets = list(_known_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _clean(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return _clean_text(value)
    if _too_deep(value, depth):
        return _described(value)
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _SECRET_KEY.match(k) and v
                else _clean(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, BaseException):
        return _clean_text(repr(value))
    return value


def redact(
    logger: object, method_name: str, event_dict: MutableMapping[str, object]
) -> MutableMapping[str, object]:
    """structlog processor: no secret leaves in any field, nested or in text."""
    cleaned = _clean(dict(event_dict))
    assert isinstance(cleaned, dict)
    return cleaned


def _head(text: str, limit: int) -> str:
    if len(text) > limit:
        text = f"{text[:limit]}…[{len(text) - limit} more characters]"
    return _encodable(text)


def _tail(text: str, limit: int) -> str:
    if len(text) > limit:
        text = f"[{len(text) - limit} characters before]…{text[-limit:]}"
    return _encodable(text)


def _encodable(text: str) -> str:
    """``text`` with lone surrogates escaped: a console or file cannot write them."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _too_deep(value: object, depth: int) -> bool:
    return depth >= MAX_LOG_DEPTH and isinstance(value, dict | list | tuple)


def _described(value: object) -> str:
    return f"({type(value).__name__} nested too deep to log)"


def _bounded(value: object, depth: int) -> object:
    if isinstance(value, str):
        return _head(value, MAX_LOG_VALUE_CHARS)
    if _too_deep(value, depth):
        return _described(value)
    if isinstance(value, dict):
        return {_bounded(k, depth + 1): _bounded(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(item, depth + 1) for item in value]
    return value


def truncate(
    logger: object, method_name: str, event_dict: MutableMapping[str, object]
) -> MutableMapping[str, object]:
    """structlog processor: every string is cut to a bounded length (a traceback keeps its
    tail) and made writable, so no line can be megabytes, whatever an event carried."""
    return {
        key: _tail(value, MAX_LOG_TRACEBACK_CHARS)
        if key == "exception" and isinstance(value, str)
        else _bounded(value, 0)
        for key, value in event_dict.items()
    }


def configure(
    *,
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    force: bool = False,
) -> None:
    """Set up structlog once per process (``force`` reconfigures, for tests and the CLI)."""
    global _configured
    if _configured and not force:
        return
    out = stream or sys.stderr
    json_lines = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            truncate,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _configured = True


def bind_invocation(
    *, function_name: str, request_id: str, cold_start: bool, correlation_id: str
) -> None:
    """Forget the previous invocation's context and bind this one's."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        function_name=function_name,
        request_id=request_id,
        cold_start=cold_start,
        correlation_id=correlation_id,
    )
