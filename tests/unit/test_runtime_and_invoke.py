from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from elbsync import runtime
from elbsync.devkit.cli import main as cli_main
from elbsync.devkit.context import LocalContext
from elbsync.devkit.invoke import invoke, load_handler
from elbsync.errors import InputError
from elbsync.runtime import Invocation, run, wiring
from elbsync.runtime.logs import configure
from elbsync.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TIMER_EVENT = {
    "version": "v1.0",
    "time": "2023-06-01T08:30:00+08:00",
    "trigger_type": "TIMER",
    "trigger_name": "Timer_001",
    "user_event": "",
}


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure(fmt="json", level="debug", stream=stream, force=True)
    runtime.use_settings(None)
    yield stream
    runtime.use_settings(None)
    configure(force=True)


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_local_context_counts_down_from_its_timeout() -> None:
    context = LocalContext("member_events", timeout_s=5)

    assert 4000 < context.getRemainingTimeInMilliSeconds() <= 5000
    assert context.getFunctionName() == "member_events"
    assert context.getRunningTimeInSeconds() == 5
    assert context.getSecurityAccessKey() == ""
    assert context.getUserData("missing", "dflt") == "dflt"


@pytest.mark.parametrize("function", ["member_events", "check_poller", "http_api"])
def test_every_function_loads_from_its_index_file(function: str) -> None:
    handler = load_handler(function, REPO / "functions")

    assert callable(handler)


def test_an_unknown_function_is_refused_clearly() -> None:
    with pytest.raises(InputError, match="no handler"):
        load_handler("nope", REPO / "functions")


def test_cold_start_is_true_only_for_the_first_invocation(
    log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wiring.WIRING, "_warm", False)
    seen: list[str] = []

    def work(invocation: Invocation, event: object) -> dict[str, object]:
        seen.append(invocation.request_id)
        return {"ok": True}

    run("check_poller", TIMER_EVENT, LocalContext("check_poller", request_id="r1"), work)
    run("check_poller", TIMER_EVENT, LocalContext("check_poller", request_id="r2"), work)

    finished = [line for line in log_lines(log_stream) if line["event"] == "invocation_finished"]
    assert [(line["request_id"], line["cold_start"]) for line in finished] == [
        ("r1", True),
        ("r2", False),
    ]
    assert seen == ["r1", "r2"]


def test_each_invocation_is_composed_from_what_was_injected(log_stream: io.StringIO) -> None:
    """The composition root: settings, clock, HTTP client and store come from the hooks, and
    going back (``None``) restores the defaults for the next invocation."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        return httpx.Response(200, json={"members": [], "page_info": {}})

    frozen = datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc)
    stores: list[object] = []
    settings = Settings(
        elb_endpoint="https://elb.injected.example",
        project_id="0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        access_key="AKINJECTED000001",
        secret_key="SKINJECTED000001",
    )

    def store(deadline: object) -> object:
        stores.append(deadline)
        return "the test's store"

    def work(invocation: Invocation, event: object) -> dict[str, object]:
        invocation.elb().list_members("pool-1")
        return {"now": invocation.clock().isoformat(), "store": invocation.store()}

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        runtime.use_settings(settings)
        runtime.use_clock(lambda: frozen)
        runtime.use_client(client)
        runtime.use_store(store)
        try:
            reply = run("check_poller", TIMER_EVENT, LocalContext("check_poller"), work)
        finally:
            runtime.use_client(None)
            runtime.use_clock(None)
            runtime.use_store(None)
            runtime.use_settings(None)

    assert reply == {"now": "2030-01-02T03:04:00+00:00", "store": "the test's store"}
    assert sent == ["elb.injected.example"]
    assert len(stores) == 1
    assert runtime.now() != frozen


def test_the_deadline_is_the_remaining_time_minus_the_margin(log_stream: io.StringIO) -> None:
    remaining: list[float] = []

    def work(invocation: Invocation, event: object) -> dict[str, object]:
        remaining.append(invocation.deadline.remaining())
        return {"ok": True}

    run("check_poller", TIMER_EVENT, LocalContext("check_poller", timeout_s=10), work)

    assert 8.0 < remaining[0] <= 8.5  # 10 s minus the default 1.5 s margin


def test_an_elbsync_error_becomes_a_reply_and_a_log_line(log_stream: io.StringIO) -> None:
    def work(invocation: Invocation, event: object) -> dict[str, object]:
        raise InputError("must be a list", field="members")

    reply = run("check_poller", TIMER_EVENT, LocalContext("check_poller"), work)

    assert reply == {
        "ok": False,
        "error": {
            "code": "invalid_input",
            "message": "members: must be a list",
            "field": "members",
        },
    }
    events = [line["event"] for line in log_lines(log_stream)]
    assert events == ["invocation_failed", "invocation_finished"]


def test_the_http_function_answers_in_the_apig_shape(log_stream: io.StringIO) -> None:
    reply = invoke("http_api", {"httpMethod": "GET", "path": "/"}, directory=REPO / "functions")

    assert isinstance(reply, dict)
    assert reply["statusCode"] == 404
    assert json.loads(str(reply["body"]))["error"]["code"] == "route_not_found"


def test_a_bad_setting_is_answered_naming_the_variable(
    log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELBSYNC_STATE_URL", "ftp://nowhere")

    reply = invoke("member_events", {}, directory=REPO / "functions")

    assert isinstance(reply, dict)
    assert reply["ok"] is False
    assert "ELBSYNC_STATE_URL" in json.dumps(reply)


def test_a_bug_is_logged_and_re_raised_for_the_platform(log_stream: io.StringIO) -> None:
    def work(invocation: Invocation, event: object) -> dict[str, object]:
        raise KeyError("surprise")

    with pytest.raises(KeyError):
        run("member_events", {}, LocalContext("member_events"), work)
    assert [line["event"] for line in log_lines(log_stream)] == [
        "invocation_crashed",
        "invocation_finished",
    ]


def test_correlation_ids_come_from_the_triggering_event() -> None:
    smn = {"record": [{"smn": {"message_id": "msg-1"}}]}
    cloud_event = {"specversion": "1.0", "id": "ce-1", "type": "x"}
    http = {"headers": {"x-correlation-id": "http-1"}}

    assert runtime.correlation_id(smn, "fallback") == "msg-1"
    assert runtime.correlation_id(cloud_event, "fallback") == "ce-1"
    assert runtime.correlation_id(http, "fallback") == "http-1"
    assert runtime.correlation_id({}, "fallback") == "fallback"


def test_the_invoke_command_prints_only_the_reply_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_stream: io.StringIO
) -> None:
    event_file = tmp_path / "timer.json"
    event_file.write_text(json.dumps(TIMER_EVENT), encoding="utf-8")

    code = cli_main(["invoke", "check_poller", "--event", str(event_file)])

    out = capsys.readouterr().out
    error = json.loads(out)["error"]
    assert error["code"] == "config_error"
    assert error["message"].startswith("HUAWEICLOUD_SDK_AK: no credentials")
    assert code == 1


def test_the_invoke_command_explains_an_unreadable_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")

    assert cli_main(["invoke", "member_events", "--event", str(bad)]) == 2
    assert cli_main(["invoke", "member_events", "--event", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "--event: not JSON" in err
    assert "cannot read event" in err
