"""``elbsync emulator [--host 127.0.0.1] [--port PORT] [--world FILE]``.

The first line on stdout is the base URL, flushed, so a parent process can read it and go.
SIGINT and SIGTERM stop the server cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from elbsync.devkit.emulator.server import Emulator
from elbsync.devkit.emulator.world import load_world
from elbsync.errors import ConfigError

__all__ = ["cli_main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elbsync emulator",
        description="Serve the ELB v3 members, Auto Scaling lifecycle and ECS interface APIs "
        "of a world file on one loopback port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--world", default=None, help="world JSON file (default: the built-in)")
    return parser


def cli_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        world = load_world(args.world)
    except ConfigError as exc:
        print(f"elbsync emulator: {exc.message}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    emulator = Emulator(world)
    try:
        try:
            base_url = emulator.start(args.host, args.port)
        except OSError as exc:
            print(
                f"elbsync emulator: cannot listen on {args.host}:{args.port}: {exc}",
                file=sys.stderr,
            )
            return 2
        print(base_url, flush=True)
        while not stop.wait(0.2):
            pass
        return 0
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
