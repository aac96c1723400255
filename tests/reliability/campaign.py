"""Run the fault campaign: ``python -m tests.reliability.campaign --seeds 2000`` (``make
soak``), or one seed again with ``--seed N`` (what a failing run prints).

Each seed runs against the same emulator (reset to the default world between seeds, whose
load balancers stay busy for 0.5 s after every write) with its own state directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from elbsync.devkit.local import Cloud, world_running

from tests.reliability.harness import Campaign, Outcome
from tests.reliability.model import Violation, check


@dataclass
class SeedResult:
    outcome: Outcome
    violations: list[Violation]
    script: tuple[str, ...] | None = None

    def report(self) -> str:
        lines = [f"seed {self.outcome.seed}: {len(self.violations)} violation(s)"]
        lines += [f"  ! {violation}" for violation in self.violations]
        lines += [f"  step: {step}" for step in self.outcome.steps]
        lines.append(f"  replay: {replay_command(self.outcome.seed, self.script)}")
        return "\n".join(lines)


def replay_command(seed: int, script: tuple[str, ...] | None = None) -> str:
    command = f".venv/bin/python -m tests.reliability.campaign --seed {seed}"
    return command + (f" --script {','.join(script)}" if script else "")


def run_seed(
    cloud: Cloud, seed: int, *, steps: int = 8, script: tuple[str, ...] | None = None
) -> SeedResult:
    with tempfile.TemporaryDirectory(prefix=f"elbsync-seed-{seed}-") as tmp:
        state = Path(tmp)
        outcome = Campaign(cloud, state, seed, steps=steps, script=script).run()
        return SeedResult(outcome, check(cloud, state, outcome), script)


Job = tuple[int, "tuple[str, ...] | None"]


def run_chunk(jobs: list[Job], steps: int) -> list[tuple[Job, str | None]]:
    """Run ``jobs`` (a seed, and a script or ``None`` for random steps) against one emulator
    of this process: each job's report if it failed."""
    results: list[tuple[Job, str | None]] = []
    with world_running() as cloud:
        for seed, script in jobs:
            result = run_seed(cloud, seed, steps=steps, script=script)
            results.append(((seed, script), result.report() if result.violations else None))
    return results


def run_jobs(jobs: list[Job], *, workers: int = 8, steps: int = 8) -> list[str]:
    """The reports of the jobs that failed, run by ``workers`` processes.

    A run mostly waits (busy balancers, lost replies running into timeouts), so processes
    beyond the cores still pay; each has its own emulator, state and process-wide settings.
    """
    chunks = [jobs[i::workers] for i in range(workers) if jobs[i::workers]]
    context = multiprocessing.get_context("spawn")
    failures: list[str] = []
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        for chunk in pool.map(run_chunk, chunks, [steps] * len(chunks)):
            failures += [report for _, report in chunk if report is not None]
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="campaign", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--seed", type=int, default=None, help="run this one seed, verbosely")
    parser.add_argument("--steps", type=int, default=8, help="steps per seed")
    parser.add_argument("--script", default=None, help="fixed steps instead, comma-separated")
    parser.add_argument("--workers", type=int, default=8, help="processes running seeds")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.seed is not None:
        with world_running() as cloud:
            script = tuple(args.script.split(",")) if args.script else None
            result = run_seed(cloud, args.seed, steps=args.steps, script=script)
        print(result.report())
        return 1 if result.violations else 0
    failed = 0
    seeds = list(range(args.first, args.first + args.seeds))
    batch = max(args.workers * 25, 1)
    for start in range(0, len(seeds), batch):
        jobs: list[Job] = [(seed, None) for seed in seeds[start : start + batch]]
        for report in run_jobs(jobs, workers=args.workers, steps=args.steps):
            failed += 1
            print(report, flush=True)
        done = min(start + batch, len(seeds))
        elapsed = time.monotonic() - started
        print(f"{done} seeds, {failed} failed, {elapsed:.0f} s", flush=True)
    print(f"campaign: {len(seeds)} seeds, {failed} with violations", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
