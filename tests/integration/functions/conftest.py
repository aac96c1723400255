"""Run the real handlers against the emulator and a local state directory.

``functions`` sets the environment a deployed function would have (endpoints pointing at the
emulator, the default world's credentials and project, bindings, a fresh state directory) and
invokes ``functions/<name>/index.py`` with a local context.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from elbsync import runtime
from elbsync.api.access import new_key
from elbsync.deadline import Deadline
from elbsync.devkit.context import LocalContext
from elbsync.devkit.emulator import Emulator, World
from elbsync.devkit.invoke import load_handler
from elbsync.devkit.serve_api import ApiServer
from elbsync.state.directory import DirectoryStore
from elbsync.state.repository import StateRepository

from tests.events import load_event
from tests.fixtures.emulator import EmulatorHandle, default_world_document

REPO = Path(__file__).resolve().parents[3]


def bindings_for(emulator: EmulatorHandle, **gate: Any) -> dict[str, Any]:
    """Instances of asg-web join pool-web on port 80 and pool-api on 8080, both on lb-web."""
    lb = emulator.load_balancer_id("lb-web")
    return {
        "version": 1,
        "bindings": [
            {
                "name": "web",
                "scaling_group_name": "asg-web",
                "pools": [
                    {
                        "pool_id": emulator.pool_id("pool-web"),
                        "load_balancer_id": lb,
                        "protocol_port": 80,
                        "weight": 10,
                        "listener_ids": [emulator.listener_id("listener-http")],
                        "drain_seconds": 30,
                    },
                    {
                        "pool_id": emulator.pool_id("pool-api"),
                        "load_balancer_id": lb,
                        "protocol_port": 8080,
                        "weight": 5,
                        "listener_ids": [emulator.listener_id("listener-api")],
                        "drain_seconds": 30,
                        "lb_algorithm": "LEAST_CONNECTIONS",
                    },
                ],
                "health_gate": {"timeout_seconds": 300, "on_failure": "ABANDON", **gate},
            }
        ],
    }


class Functions:
    def __init__(
        self, emulator: EmulatorHandle, state_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.emulator = emulator
        self.state_dir = state_dir
        self._monkeypatch = monkeypatch
        self.env(
            ELBSYNC_ELB_ENDPOINT=emulator.base_url,
            ELBSYNC_AS_ENDPOINT=emulator.base_url,
            ELBSYNC_ECS_ENDPOINT=emulator.base_url,
            ELBSYNC_PROJECT_ID=emulator.project_id,
            HUAWEICLOUD_SDK_AK=emulator.access_key,
            HUAWEICLOUD_SDK_SK=emulator.secret_key,
            ELBSYNC_STATE_URL=f"file://{state_dir}",
            ELBSYNC_BINDINGS=json.dumps(bindings_for(emulator)),
            ELBSYNC_LOG_FORMAT="json",
        )

    def env(self, **values: str) -> None:
        for name, value in values.items():
            self._monkeypatch.setenv(name, value)
        runtime.use_settings(None)

    def now(self) -> datetime:
        """The emulator's virtual time: the functions run on it too (see the fixture)."""
        return datetime.fromtimestamp(self.emulator.emulator.clock.now(), tz=timezone.utc)

    def travel(self, seconds: float) -> None:
        """Move time on for the emulated cloud and the functions alike."""
        self.emulator.advance(seconds)

    def tick(self, *, timeout_s: float = 60.0, user_event: str = "") -> Any:
        """One check_poller run on a TIMER event."""
        event = {**load_event("check_poller/timer"), "user_event": user_event}
        return self.invoke("check_poller", event, timeout_s=timeout_s)

    def invoke(self, function: str, event: dict[str, Any], *, timeout_s: float = 60.0) -> Any:
        handler = load_handler(function, REPO / "functions")
        return handler(event, LocalContext(function, timeout_s=timeout_s))

    def repository(self) -> StateRepository:
        return StateRepository(DirectoryStore(str(self.state_dir), deadline=Deadline.after(30)))


@pytest.fixture(scope="session")
def cloud_session() -> Iterator[EmulatorHandle]:
    """The default world as it is: every load balancer is busy for 0.5 s after each write,
    as ELB is, so the functions are tested the way the cloud behaves."""
    world = World.model_validate(default_world_document())
    assert world.behaviour.busy_after_write_s > 0
    emulator = Emulator(world)
    emulator.start("127.0.0.1", 0)
    handle = EmulatorHandle(emulator)
    handle.default_world = world
    try:
        yield handle
    finally:
        handle.close()
        emulator.stop()


@pytest.fixture
def cloud(cloud_session: EmulatorHandle) -> Iterator[EmulatorHandle]:
    cloud_session.emulator.reset(cloud_session.default_world)
    yield cloud_session
    cloud_session.close()


@pytest.fixture
def functions(
    cloud: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Functions]:
    functions = Functions(cloud, tmp_path / "state", monkeypatch)
    runtime.use_clock(functions.now)
    yield functions
    runtime.use_clock(None)
    runtime.use_settings(None)


class Api:
    """http_api behind the loopback adapter (``elbsync serve-api``), called over real HTTP."""

    def __init__(self, functions: Functions, server: ApiServer, key: str) -> None:
        self.functions = functions
        self.server = server
        self.key = key
        self.client = httpx.Client(base_url=server.url, timeout=60)

    def request(
        self, method: str, path: str, *, key: str | None = "", **kwargs: Any
    ) -> httpx.Response:
        """``key``: the configured API key by default, ``None`` for none, or another one."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers.setdefault("X-Api-Key", key or self.key)
        return self.client.request(method, path, headers=headers, **kwargs)

    def pool(self, name: str) -> str:
        return self.functions.emulator.pool_id(name)


@pytest.fixture
def api(functions: Functions) -> Iterator[Api]:
    """http_api with one API key, pool-web, pool-api and pool-protected allowed (not
    pool-static), on the default world's 0.5 s busy window."""
    key, entry = new_key()
    allowed = [functions.emulator.pool_id(n) for n in ("pool-web", "pool-api", "pool-protected")]
    functions.env(ELBSYNC_API_KEYS=entry, ELBSYNC_API_POOLS=",".join(allowed))
    with ApiServer(load_handler("http_api", REPO / "functions")) as server:
        api = Api(functions, server, key)
        try:
            yield api
        finally:
            api.client.close()
