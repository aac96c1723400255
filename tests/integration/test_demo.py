"""The README's main command: ``elbsync demo`` tells its whole story against the emulator."""

from __future__ import annotations

import subprocess
import sys
import time


def test_the_demo_runs_the_whole_story_quickly_and_cleanly() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "elbsync.devkit.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "is different from member port 8080" in out  # a real fault, explained
    assert "is not allowed by securityGroup" in out
    assert "INSTANCE_LAUNCHING    CONTINUE" in out
    assert "INSTANCE_TERMINATING  CONTINUE" in out
    assert "draining" in out
    assert out.rstrip().endswith("Done: emulator stopped, temporary state removed.")
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"
