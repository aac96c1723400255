"""A smoke-sized run of the cold-start benchmark (the full run is ``make bench``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "cold_start.py"


def test_the_cold_start_benchmark_prints_a_ratio_for_every_handler() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for name in ("member_events", "check_poller", "http_api", "floor"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(name + " "))
        seconds, ratio = re.findall(r"(\d+\.\d+)", row)[0], row.rsplit(maxsplit=1)[-1]
        assert 0 < float(seconds) < 10
        assert ratio.endswith("x")
    assert "slowest handler is" in done.stdout
