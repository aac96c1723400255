from __future__ import annotations

import io
import json

import pytest
import structlog
from elbsync.runtime.logs import (
    MAX_KNOWN_SECRETS,
    MAX_LOG_TRACEBACK_CHARS,
    MAX_LOG_VALUE_CHARS,
    REDACTED,
    bind_invocation,
    configure,
    redact,
    register_secret,
    truncate,
)


@pytest.fixture
def json_lines() -> io.StringIO:
    stream = io.StringIO()
    configure(fmt="json", level="debug", stream=stream, force=True)
    yield stream
    configure(force=True)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_carries_the_invocation_fields(json_lines: io.StringIO) -> None:
    bind_invocation(function_name="fn", request_id="req-1", cold_start=True, correlation_id="c-1")
    log = structlog.get_logger()
    log.info("first")
    log.warning("second", pool_id="p")

    for line in lines(json_lines):
        assert (line["function_name"], line["request_id"], line["cold_start"]) == (
            "fn",
            "req-1",
            True,
        )
        assert line["correlation_id"] == "c-1"


def test_a_new_invocation_forgets_the_previous_context(json_lines: io.StringIO) -> None:
    bind_invocation(function_name="fn", request_id="req-1", cold_start=True, correlation_id="c-1")
    structlog.contextvars.bind_contextvars(pool_id="p-1")
    bind_invocation(function_name="fn", request_id="req-2", cold_start=False, correlation_id="c-2")
    structlog.get_logger().info("again")

    (line,) = lines(json_lines)
    assert line["request_id"] == "req-2"
    assert line["cold_start"] is False
    assert "pool_id" not in line


SIGNED = (
    "SDK-HMAC-SHA256 Access=AKIDEXAMPLE123, SignedHeaders=host;x-sdk-date, "
    "Signature=4f5e0c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
)


@pytest.mark.parametrize(
    ("event", "secret"),
    [
        ({"headers": {"Authorization": SIGNED}}, "4f5e0c2b9a8d7e6f"),
        ({"headers": {"Authorization": SIGNED}}, "AKIDEXAMPLE123"),
        ({"error": f"request failed: {SIGNED}"}, "4f5e0c2b9a8d7e6f"),
        ({"config": {"secret_key": "sk-very-secret"}}, "sk-very-secret"),
        ({"creds": [{"access_key": "AKPLAIN"}]}, "AKPLAIN"),
        ({"X-Auth-Token": "MIIabc"}, "MIIabc"),
        ({"text": "x-security-token: tok-123456 sent"}, "tok-123456"),
        ({"text": "Authorization: OBS AKOBS:c2lnbmF0dXJl"}, "c2lnbmF0dXJl"),
        ({"url": "https://b.obs/x?AccessKeyId=AKQ&Signature=abc%2B&Expires=1"}, "abc%2B"),
        ({"text": "token " + "MII" + "A" * 120}, "A" * 120),
    ],
    ids=[
        "auth-signature",
        "auth-access-key",
        "signature-in-text",
        "secret-key-field",
        "nested-access-key",
        "auth-token-header",
        "token-in-text",
        "obs-signature",
        "presigned-url",
        "iam-token-in-text",
    ],
)
def test_secrets_are_redacted_wherever_they_appear(event: dict[str, object], secret: str) -> None:
    cleaned = redact(None, "info", dict(event))

    assert secret not in json.dumps(cleaned)
    assert REDACTED in json.dumps(cleaned)


def test_registered_secret_values_are_redacted_anywhere(json_lines: io.StringIO) -> None:
    register_secret("temporary-token-value-42")
    structlog.get_logger().error("boom", detail="sent temporary-token-value-42 to obs")

    text = json_lines.getvalue()
    assert "temporary-token-value-42" not in text
    assert "boom" in text


def test_the_redaction_list_keeps_the_latest_credentials_and_does_not_grow_with_rotation(
    json_lines: io.StringIO,
) -> None:
    rotated = [f"rotated-secret-{n:04d}" for n in range(MAX_KNOWN_SECRETS * 3)]
    for secret in rotated:
        register_secret(secret)
    register_secret(rotated[-1])  # registered again: still one entry, still the newest

    structlog.get_logger().error("boom", detail=" ".join(rotated))

    (line,) = lines(json_lines)
    shown = str(line["detail"]).split()
    assert shown[-MAX_KNOWN_SECRETS:] == [REDACTED] * MAX_KNOWN_SECRETS
    assert shown[: len(rotated) - MAX_KNOWN_SECRETS] == rotated[:-MAX_KNOWN_SECRETS]


def test_ordinary_fields_survive_redaction() -> None:
    event = {"event": "remote_write_finished", "remote_request_id": "abc", "pool_id": "p-1"}

    assert redact(None, "info", dict(event)) == event


def test_exception_tracebacks_are_redacted(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError(f"signing failed: {SIGNED}")
    except RuntimeError:
        structlog.get_logger().exception("crashed")

    (line,) = lines(json_lines)
    assert "4f5e0c2b9a8d7e6f" not in str(line["exception"])
    assert "RuntimeError" in str(line["exception"])


def test_a_long_value_is_cut_with_a_marker(json_lines: io.StringIO) -> None:
    structlog.get_logger().warning("big", detail="x" * 1_000_000, nested={"deep": ["y" * 5000]})

    text = json_lines.getvalue()
    (line,) = lines(json_lines)
    assert len(text) < 10_000
    assert str(line["detail"]).startswith("x" * MAX_LOG_VALUE_CHARS + "…[")
    assert str(line["detail"]).endswith(f"[{1_000_000 - MAX_LOG_VALUE_CHARS} more characters]")
    assert "more characters" in str(line["nested"])


def test_a_secret_across_the_cut_is_redacted_before_the_value_is_cut() -> None:
    register_secret("cut-across-secret-value")
    text = "x" * (MAX_LOG_VALUE_CHARS - 5) + "cut-across-secret-value"

    line = truncate(None, "info", redact(None, "info", {"detail": text}))

    assert "cut-a" not in str(line["detail"])


def test_a_traceback_keeps_its_end(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError("the real cause " + "z" * 20_000)
    except RuntimeError:
        structlog.get_logger().exception("crashed")

    (line,) = lines(json_lines)
    trace = str(line["exception"])
    assert len(trace) < MAX_LOG_TRACEBACK_CHARS + 100
    assert trace.rstrip().endswith("z")
    assert "characters before]" in trace


def test_unwritable_text_and_deep_values_still_make_a_line() -> None:
    stream = io.StringIO()
    configure(fmt="console", level="debug", stream=stream, force=True)
    try:
        deep: object = "leaf"
        for _ in range(1000):
            deep = [deep]
        structlog.get_logger().info("odd", text="lone \ud800 surrogate", deep=deep)
    finally:
        configure(force=True)

    text = stream.getvalue()
    text.encode("utf-8")
    assert "ud800 surrogate" in text
    assert "(list nested too deep to log)" in text
