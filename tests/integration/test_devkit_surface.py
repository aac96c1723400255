"""The developer kit's public surface: the example in docs/emulator.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_the_documented_way_to_run_the_functions_against_the_emulator_works() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Running the functions against it in your own tests", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[:1]

    namespace: dict[str, object] = {}
    exec(compile(example, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation

    tick = namespace["tick"]
    assert isinstance(tick, dict)
    assert tick["ok"] is True
    assert tick["pending"]["write_intents"] == 0


def test_the_devkit_names_users_import_stay_importable() -> None:
    from elbsync import runtime
    from elbsync.devkit.burst import BurstReport, run_burst
    from elbsync.devkit.context import LocalContext
    from elbsync.devkit.emulator import Emulator, World, load_world
    from elbsync.devkit.invoke import invoke, load_handler
    from elbsync.devkit.local import Cloud, functions_against, world_running
    from elbsync.devkit.serve_api import ApiServer, apig_event

    hooks = (runtime.use_settings, runtime.use_clock, runtime.use_store, runtime.use_client)
    kit = (BurstReport, run_burst, LocalContext, Emulator, World, load_world, invoke)
    assert all(callable(item) for item in (*hooks, *kit, load_handler, Cloud))
    assert all(callable(item) for item in (functions_against, world_running))
    assert callable(ApiServer)
    assert callable(apig_event)
