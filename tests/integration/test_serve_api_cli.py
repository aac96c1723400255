"""``elbsync serve-api --emulator`` as a new user runs it: a process that prints its URL and an
API key, answers real HTTP, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

POOL_WEB = "e179f773-a6e0-43c0-9514-b7dde2ad0478"
SUBNET_APP = "bc67ba94-637d-4efa-a09e-467ada679f81"


def test_serve_api_with_the_emulator_answers_curl_style_calls_and_stops() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "elbsync.devkit.cli", "serve-api", "--emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        base = lines[0].removesuffix("/v1")
        key = lines[2].removeprefix("API key: ")
        assert lines[0].startswith("http://127.0.0.1:")
        assert len(key) >= 40
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/v1/health").json()["ok"] is True
            refused = client.get(f"/v1/pools/{POOL_WEB}/members")
            assert refused.status_code == 401
            headers = {"X-Api-Key": key}
            member = {"address": "192.168.1.40", "protocol_port": 80, "subnet_cidr_id": SUBNET_APP}
            added = client.post(
                f"/v1/pools/{POOL_WEB}/members/batch-add",
                json={"members": [member]},
                headers=headers,
            )
            assert added.status_code in (200, 202), added.text
            listed = client.get(f"/v1/pools/{POOL_WEB}/members", headers=headers).json()
            assert "192.168.1.40" in {m["address"] for m in listed["members"]}
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    assert code == 0
    assert process.stderr is not None
    assert key not in process.stderr.read()
