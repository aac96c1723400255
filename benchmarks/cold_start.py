"""Cold start: how long a new function instance takes to import each handler.

Each sample is a fresh interpreter that imports ``functions/<name>/index.py`` the way the
runtime does and reports the import time and peak memory. Interpreter start-up itself is not
counted. The reference is Huawei's Python SDK clients for ELB, Auto Scaling and OBS: measured in
the same run when ``--sdk-python`` names an interpreter that has them installed, otherwise the
lower end of the documented 0.5-0.7 s.

    python benchmarks/cold_start.py [--runs 7] [--sdk-python /tmp/hwsdk/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("member_events", "check_poller", "http_api")
WORK_MODULES = {
    "member_events": "elbsync.flows.member_events, elbsync.flows.scaling, elbsync.flows.deployment",
    "check_poller": "elbsync.flows.check_poller",
    "http_api": "elbsync.flows.deployment, elbsync.members.membership",
}
SDK_REFERENCE_S = 0.5  # lower end of the SDK clients' documented import time
SDK_IMPORTS = "huaweicloudsdkelb.v3, huaweicloudsdkas.v1, obs"

_PROBE = """
import importlib.util, json, resource, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": elapsed, "max_rss_kib": rss_kib}}))
"""

_HANDLER = """
spec = importlib.util.spec_from_file_location("index", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handler)
"""


def sample(python: str, body: str) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", _PROBE.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sdk-python", help="an interpreter with Huawei's SDK installed")
    args = parser.parse_args(argv)

    probes = {
        name: (sys.executable, _HANDLER.format(path=str(REPO / "functions" / name / "index.py")))
        for name in FUNCTIONS
    }
    # For context: the three libraries every handler needs, and each handler's whole work path
    # (what its first invocation imports on top of the handler module).
    probes["floor"] = (sys.executable, "import httpx, structlog\nfrom pydantic import BaseModel")
    for name, module in WORK_MODULES.items():
        probes[f"{name}+work"] = (
            sys.executable,
            _HANDLER.format(path=str(REPO / "functions" / name / "index.py"))
            + f"import {module}\n",
        )
    if args.sdk_python:
        probes["sdk"] = (args.sdk_python, f"import {SDK_IMPORTS}")
    # Interleave the probes run by run, so load on a shared machine hits all of them alike.
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in probes}
    for _ in range(args.runs):
        for name, (python, body) in probes.items():
            samples[name].append(sample(python, body))

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    if args.sdk_python:
        reference, source = median("sdk", "seconds"), f"measured in this run: {SDK_IMPORTS}"
    else:
        reference, source = SDK_REFERENCE_S, "documented lower bound"
    print(f"reference: Huawei SDK clients import in {reference:.3f} s ({source})")
    print(f"{'function':<22} {'import s':>9} {'peak MiB':>9} {'SDK / ours':>11}")
    worst = 0.0
    for name in FUNCTIONS:
        seconds, rss = median(name, "seconds"), median(name, "max_rss_kib") / 1024
        worst = max(worst, seconds)
        print(f"{name:<22} {seconds:>9.3f} {rss:>9.1f} {reference / seconds:>10.1f}x")
    for name in ("floor", *(f"{n}+work" for n in WORK_MODULES)):
        seconds, rss = median(name, "seconds"), median(name, "max_rss_kib") / 1024
        print(f"{name:<22} {seconds:>9.3f} {rss:>9.1f} {reference / seconds:>10.1f}x")
    if args.sdk_python:
        print(f"{'(sdk)':<22} {reference:>9.3f} {median('sdk', 'max_rss_kib') / 1024:>9.1f}")
    verdict = "meets" if reference / worst >= 2 else "MISSES"
    print(
        f"slowest handler is {reference / worst:.1f}x faster than the SDK: {verdict} the 2x target"
    )
    print(f"median of {args.runs} fresh interpreters each; interpreter start-up not counted")
    print("floor: httpx + structlog + pydantic alone; +work: the handler and its work modules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
