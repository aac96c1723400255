"""``elbsync emulator`` as a process: base URL first, clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.emulator import default_world_document

pytestmark = pytest.mark.integration

_START = "import sys; from elbsync.devkit.cli import main; sys.exit(main(sys.argv[1:]))"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _START, "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_first_line_is_the_base_url_and_a_signal_stops_it_cleanly(
    sig: signal.Signals,
) -> None:
    process = _start("--port", "0")
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert int(base_url.rsplit(":", 1)[1]) > 0
        health = httpx.get(base_url + "/_emulator/health", timeout=10.0)
        assert health.json() == {"status": "ok"}
    finally:
        status = _stop(process, sig)
    assert status == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/_emulator/health", timeout=2.0)


def test_a_world_file_given_on_the_command_line_is_served(tmp_path: Path) -> None:
    document = default_world_document()
    document["load_balancers"][0]["pools"][0]["name"] = "renamed-pool"
    world = tmp_path / "world.json"
    world.write_text(json.dumps(document), encoding="utf-8")
    process = _start("--port", "0", "--world", str(world))
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        served = httpx.get(base_url + "/_emulator/world", timeout=10.0).json()
        assert served["load_balancers"][0]["pools"][0]["name"] == "renamed-pool"
    finally:
        assert _stop(process, signal.SIGTERM) == 0


def test_an_invalid_world_file_exits_2_naming_the_problem(tmp_path: Path) -> None:
    document = default_world_document()
    document["servers"][0]["interfaces"][0]["subnet_id"] = "no-such-subnet"
    world = tmp_path / "world.json"
    world.write_text(json.dumps(document), encoding="utf-8")
    process = _start("--port", "0", "--world", str(world))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "no-such-subnet" in stderr
