"""A local emulator of the Huawei Cloud APIs elbsync calls (developer kit, never deployed).

ELB v3 members and member check jobs, the Auto Scaling lifecycle callback and hanging-instance
list, and ECS ``os-interface``, behind SDK-HMAC-SHA256 / IAM-token authentication, on one
loopback port, plus an admin API under ``/_emulator/``. See docs/emulator.md.

    with Emulator(load_world()) as emulator:
        emulator.base_url  # http://127.0.0.1:PORT
"""

from elbsync.devkit.emulator.cli import cli_main
from elbsync.devkit.emulator.clock import VirtualClock
from elbsync.devkit.emulator.faults import OPERATIONS
from elbsync.devkit.emulator.server import Emulator
from elbsync.devkit.emulator.world import World, default_world_path, load_world, world_schema

__all__ = [
    "OPERATIONS",
    "Emulator",
    "VirtualClock",
    "World",
    "cli_main",
    "default_world_path",
    "load_world",
    "world_schema",
]
