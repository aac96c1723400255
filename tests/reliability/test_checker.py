"""Each invariant of the model is shown to catch a bug: the system is broken on purpose and
the checker must say so (and say nothing when it is not broken)."""

from __future__ import annotations

import pytest
from elbsync.devkit.local import Cloud
from elbsync.members import writes
from elbsync.state.idempotency import Idempotency
from elbsync.waits import drains, lifecycle

from tests.reliability.campaign import run_seed

LIFE = ("launch", "deliver", "tick", "tick", "register", "deliver", "terminate", "deliver")


def invariants(cloud: Cloud, script: tuple[str, ...]) -> set[str]:
    result = run_seed(cloud, 0, script=script)
    return {violation.invariant for violation in result.violations}


def test_an_unbroken_life_breaks_no_invariant(cloud: Cloud) -> None:
    assert invariants(cloud, (*LIFE, "replay")) == set()


def test_a_skipped_drain_is_reported(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drains.Drains, "advance", lambda self, drain: drains.DrainStep(False))

    found = invariants(cloud, LIFE)

    assert "removed: in no pool" in found
    assert "everything terminal" in found or "settles" in found


def test_a_forgotten_member_is_reported(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    enqueue = writes.WritePath.enqueue

    def forget_the_last_pool(self: writes.WritePath, key: str, pool_writes, **kwargs):  # type: ignore[no-untyped-def]
        kept = pool_writes[:-1] if len(pool_writes) > 1 else pool_writes
        return enqueue(self, key, kept, **kwargs)

    monkeypatch.setattr(writes.WritePath, "enqueue", forget_the_last_pool)

    # elbsync then abandons the instance (it never became a member everywhere): the model
    # knows every launched server is healthy, so giving up on one is the bug it reports.
    assert "healthy instances are continued" in invariants(cloud, LIFE)


def test_an_event_applied_twice_is_reported(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    begin = Idempotency.begin

    def never_replay(self: Idempotency, **kwargs):  # type: ignore[no-untyped-def]
        started = begin(self, **kwargs)
        return (
            started
            if not hasattr(started, "reply")
            else self._try_claim(
                "forgotten-" + kwargs["event_id"],
                kwargs["source"],
                kwargs["event_id"],
                "",
                1,
                30,
                None,
            )
        )

    monkeypatch.setattr(Idempotency, "begin", never_replay)

    found = invariants(cloud, (*LIFE, "tick", "tick", "tick", "replay"))

    # The replay meets a world that moved on: the instance is gone, and the event is refused.
    assert "valid events accepted" in found


def test_an_abandon_that_leaves_members_behind_is_reported(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle.LifecycleActions, "_remove_members", lambda self, action: [])

    found = invariants(cloud, ("launch-broken", "deliver", "tick", "tick"))

    assert "removed: in no pool" in found


def test_a_broken_launch_is_abandoned_with_nothing_left_behind(cloud: Cloud) -> None:
    assert invariants(cloud, ("launch-broken", "launch", "deliver", "tick", "tick")) == set()
