"""The ``elbsync`` command of the local developer kit (never deployed).

Subcommands import what they need when they run, so ``elbsync invoke`` pays only for the
function it runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from elbsync.errors import ElbsyncError

__all__ = ["main"]


def _invoke(args: argparse.Namespace) -> int:
    from elbsync.devkit.invoke import invoke, read_event, reply_failed

    reply = invoke(
        args.function,
        read_event(args.event),
        timeout_s=args.timeout,
        directory=args.functions_dir,
    )
    json.dump(reply, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if reply_failed(reply) else 0


def _emulator(rest: list[str]) -> int:
    emulator = importlib.import_module("elbsync.devkit.emulator")
    return int(emulator.cli_main(rest))


def _demo() -> int:
    demo = importlib.import_module("elbsync.devkit.demo")
    return int(demo.main())


def _burst(rest: list[str]) -> int:
    burst = importlib.import_module("elbsync.devkit.burst")
    return int(burst.main(rest))


def _serve_api(rest: list[str]) -> int:
    serve_api = importlib.import_module("elbsync.devkit.serve_api")
    return int(serve_api.main(rest))


def _api_key() -> int:
    from elbsync.api.access import new_key

    key, entry = new_key()
    print(f"API key (give it to the caller; it is not stored): {key}")
    print(f"ELBSYNC_API_KEYS entry (comma-separate several): {entry}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elbsync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    invoke = sub.add_parser("invoke", help="run functions/FUNCTION/index.py once, in process")
    invoke.add_argument("function", choices=("member_events", "check_poller", "http_api"))
    invoke.add_argument("--event", required=True, help="JSON event file, or - for stdin")
    invoke.add_argument("--timeout", type=float, default=30.0, help="function timeout, seconds")
    invoke.add_argument("--functions-dir", type=Path, default=None, help="where functions/ is")

    sub.add_parser(
        "emulator",
        help="serve the ELB, Auto Scaling and ECS emulator (see --help of the subcommand)",
        add_help=False,
    )
    sub.add_parser("demo", help="start the emulator and run the local demo story")
    sub.add_parser(
        "burst",
        help="an Auto Scaling burst against the emulator, measured (see --help of the subcommand)",
        add_help=False,
    )
    sub.add_parser(
        "serve-api",
        help="serve http_api on a loopback port for curl (see --help of the subcommand)",
        add_help=False,
    )
    sub.add_parser("api-key", help="make a new API key and its ELBSYNC_API_KEYS entry")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = _parser()
    if args_list[:1] == ["emulator"]:
        return _emulator(args_list[1:])
    if args_list[:1] == ["burst"]:
        return _burst(args_list[1:])
    if args_list[:1] == ["serve-api"]:
        return _serve_api(args_list[1:])
    args = parser.parse_args(args_list)
    try:
        if args.command == "invoke":
            return _invoke(args)
        if args.command == "api-key":
            return _api_key()
        return _demo()
    except ElbsyncError as exc:
        print(f"elbsync {args.command}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
