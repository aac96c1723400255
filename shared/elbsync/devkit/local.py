"""Run the functions of this process against a local emulator: the harness the demo, the
burst scenario and users' own tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import httpx

from elbsync import runtime
from elbsync.devkit.emulator import Emulator, World, load_world
from elbsync.runtime.logs import configure
from elbsync.settings import Settings

__all__ = ["Cloud", "functions_against", "world_running"]


class Cloud:
    """The emulator's admin API and the world's ids by name."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.world: World = emulator.initial_world

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.emulator.base_url}/_emulator/{path}"
        response = httpx.request(method, url, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def pool(self, name: str) -> str:
        for lb in self.world.load_balancers:
            for pool in lb.pools:
                if pool.name == name:
                    return pool.id
        raise KeyError(name)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.emulator.clock.now(), tz=timezone.utc)


@contextmanager
def world_running(world: World | None = None) -> Iterator[Cloud]:
    emulator = Emulator(world or load_world())
    emulator.start("127.0.0.1", 0)
    try:
        yield Cloud(emulator)
    finally:
        emulator.stop()


@contextmanager
def functions_against(
    emulator: Emulator,
    state: Path,
    *,
    bindings: str,
    clock: Callable[[], datetime],
    log_format: Literal["json", "console"] = "json",
    busy_wait_ms: int | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Iterator[None]:
    """Run the handlers of this process against ``emulator`` (its first credentials), with
    state in the directory ``state``, on ``clock``, logging errors only; ``overrides`` sets
    any other :class:`~elbsync.settings.Settings` field (``api_keys``, ``api_pools``, ...)."""
    credentials = emulator.initial_world.credentials[0]
    settings = Settings(
        elb_endpoint=emulator.base_url,
        as_endpoint=emulator.base_url,
        ecs_endpoint=emulator.base_url,
        project_id=credentials.project_id,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        state_url=f"file://{state}",
        bindings=bindings,
        log_format=log_format,
        log_level="error",
    )
    if busy_wait_ms is not None:
        settings = settings.model_copy(update={"busy_wait_ms": busy_wait_ms})
    if overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    configure(fmt=log_format, level="error", force=True)
    runtime.use_settings(settings)
    runtime.use_clock(clock)
    try:
        yield
    finally:
        runtime.use_settings(None)
        runtime.use_clock(None)
