"""Structured logging: configured once, JSON lines in the cloud, readable on a terminal.

Every line of an invocation carries ``function_name``, ``request_id``, ``cold_start`` and
``correlation_id`` (bound per invocation through ``contextvars`` and cleared at the start of the
next, which matters in warm containers). The :func:`redact` processor removes access keys,
secret keys, tokens, ``Authorization`` values and signatures wherever they appear.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Literal, TextIO

import structlog

REDACTED = "***"

# Keys whose values are secrets, whatever the nesting (``access_key``, ``X-Auth-Token``, ...).
_SECRET_KEY = re.compile(
    r"(?i)^(ak|sk|.*access[_-]?key(_id)?|.*secret.*|.*token|authorization|.*signature|"
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
            r"(?i)\b(x-auth-token|x-security-token|x-obs-security-token|"
            r"x-amz-security-token|authorization)(\"?\s*[:=]\s*\"?)[^\s\",}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"MII[A-Za-z0-9+/=_-]{60,}"), REDACTED),  # IAM tokens
]
_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_configured = False


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears from now on (credentials, tokens)."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)


def _clean_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _clean(value: object) -> object:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and v else _clean(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
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
