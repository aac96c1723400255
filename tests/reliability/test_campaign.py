"""The CI-sized fault campaign, crash points and replays (``make soak`` runs thousands)."""

from __future__ import annotations

import os

import pytest
from elbsync.devkit.local import Cloud

from tests.reliability.campaign import Job, run_jobs, run_seed

SEEDS = int(os.environ.get("ELBSYNC_CAMPAIGN_SEEDS", "200"))
WORKERS = int(os.environ.get("ELBSYNC_CAMPAIGN_WORKERS", "8"))
LAUNCH = ("launch",)
#: After a kill the platform delivers the event again at once, then the poller ticks.
AFTER = ("deliver", "tick", "tick")


def _assert_none(failures: list[str]) -> None:
    assert not failures, f"{len(failures)} run(s) broke an invariant:\n" + "\n".join(failures)


@pytest.mark.timeout(1200)
def test_random_seeds_with_api_and_store_faults_break_no_invariant() -> None:
    _assert_none(run_jobs([(seed, None) for seed in range(SEEDS)], workers=WORKERS))


def _remote_calls(cloud: Cloud, script: tuple[str, ...]) -> int:
    """How many remote calls (API and store) the next delivery after ``script`` makes."""
    return run_seed(cloud, 0, script=(*script, "count")).outcome.remote_calls


#: Deliveries killed at every remote call in turn: a launch, a termination, a register event.
KILLED = (
    ("launch",),
    ("launch", "deliver", "tick", "tick", "terminate"),
    ("register",),
)


@pytest.mark.timeout(1200)
def test_an_invocation_killed_at_any_remote_call_loses_nothing(cloud: Cloud) -> None:
    """Killed before each request and after each reply in turn, then delivered again."""
    jobs: list[Job] = []
    for script in KILLED:
        calls = _remote_calls(cloud, script)
        assert calls >= 5, (script, calls)
        jobs += [
            (0, (*script, f"crash:{at}:{when}", *AFTER))
            for at in range(1, calls + 1)
            for when in ("before", "after")
        ]
    _assert_none(run_jobs(jobs, workers=WORKERS))


def test_every_event_delivered_two_and_three_times_in_and_out_of_order(cloud: Cloud) -> None:
    script = (
        "launch",
        "register",
        "launch",
        "deliver",
        "replay",
        "tick",
        "replay",
        "tick",
        "terminate",
        "replay",
        "tick",
        "replay",
    )
    result = run_seed(cloud, 0, script=script)
    assert not result.violations, result.report()
