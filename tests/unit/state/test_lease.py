"""Write leases over the real directory store: one holder at a time, numbered generations."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from elbsync.deadline import Deadline
from elbsync.runtime.logs import configure
from elbsync.state import layout
from elbsync.state.directory import DirectoryStore
from elbsync.state.lease import Lease, Leases
from elbsync.state.repository import ExpiryPolicy, StateRepository
from elbsync.state.store import ListedObject

START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
QUEUE = "lb-1"


class MutableClock:
    """An aware UTC clock that moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _logs_to_a_buffer() -> None:
    # An earlier test may have left structlog writing to a stream pytest has closed since.
    configure(fmt="json", level="debug", stream=io.StringIO(), force=True)


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(str(tmp_path / "state"), deadline=Deadline.after(30))


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def leases(store: DirectoryStore, clock: MutableClock) -> Leases:
    return Leases(store, clock=clock)


def lease_keys(store: DirectoryStore, name: str = QUEUE) -> list[str]:
    return [listed.key for listed in store.list(layout.lease_prefix(name))]


def test_the_first_acquire_gets_generation_one_for_the_requested_time(
    leases: Leases, store: DirectoryStore
) -> None:
    lease = leases.acquire(QUEUE, seconds=60)

    assert lease is not None
    assert lease.generation == 1
    assert lease.acquired_at == START
    assert lease.expires_at == START + timedelta(seconds=60)
    assert (lease.quiet_until, lease.pace_s) == (None, None)
    assert lease_keys(store) == [layout.lease_key(QUEUE, 1)]


def test_a_second_acquire_while_the_lease_is_held_gets_nothing(
    leases: Leases, clock: MutableClock
) -> None:
    first = leases.acquire(QUEUE, seconds=60)
    clock.advance(59)

    second = leases.acquire(QUEUE, seconds=60)

    assert first is not None
    assert second is None


def test_leases_of_different_balancers_do_not_block_each_other(leases: Leases) -> None:
    one = leases.acquire("lb-1", seconds=60)
    other = leases.acquire("lb-2", seconds=60)

    assert one is not None
    assert other is not None
    assert (one.generation, other.generation) == (1, 1)


def test_after_release_the_next_holder_gets_generation_two_and_inherits_quiet_until_and_pace(
    leases: Leases, clock: MutableClock
) -> None:
    first = leases.acquire(QUEUE, seconds=60)
    assert first is not None
    quiet_until = START + timedelta(seconds=7)
    clock.advance(5)
    leases.release(first, quiet_until=quiet_until, pace_s=2.5)

    second = leases.acquire(QUEUE, seconds=60)

    assert second is not None
    assert second.generation == 2
    assert second.owner != first.owner
    assert second.quiet_until == quiet_until
    assert second.pace_s == 2.5
    assert second.acquired_at == START + timedelta(seconds=5)


def test_an_expired_lease_that_was_never_released_can_be_taken_over(
    leases: Leases, clock: MutableClock
) -> None:
    dead = leases.acquire(QUEUE, seconds=10)
    assert dead is not None

    clock.advance(9)
    while_alive = leases.acquire(QUEUE, seconds=10)
    clock.advance(2)
    after_expiry = leases.acquire(QUEUE, seconds=10)

    assert while_alive is None
    assert after_expiry is not None
    assert after_expiry.generation == 2
    assert clock.now > dead.expires_at


def test_acquiring_keeps_every_generation_and_the_expiry_keeps_only_the_newest(
    leases: Leases, store: DirectoryStore, clock: MutableClock
) -> None:
    held: Lease | None = None
    for _ in range(6):
        held = leases.acquire(QUEUE, seconds=60)
        assert held is not None
        clock.advance(1)
        leases.release(held, quiet_until=None, pace_s=1.0)
    assert held is not None
    assert held.generation == 6
    assert len(lease_keys(store)) == 6  # a racing listing can never see an emptied folder

    later = StateRepository(store, clock=lambda: datetime.now(timezone.utc) + timedelta(hours=2))
    later.expire(ExpiryPolicy())

    assert lease_keys(store) == [layout.lease_key(QUEUE, 6)]
    again = leases.acquire(QUEUE, seconds=60)
    assert again is not None
    assert again.generation == 7
    assert again.pace_s == 1.0


def test_many_threads_racing_for_a_free_lease_get_exactly_one_holder(
    tmp_path: Path, clock: MutableClock
) -> None:
    root = str(tmp_path / "state")

    def attempt(_: int) -> Lease | None:
        # Each attempt is its own invocation: its own store object over the same directory.
        store = DirectoryStore(root, deadline=Deadline.after(30))
        return Leases(store, clock=clock).acquire(QUEUE, seconds=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(attempt, range(32)))

    holders = [lease for lease in outcomes if lease is not None]
    assert len(holders) == 1
    assert holders[0].generation == 1
    store = DirectoryStore(root, deadline=Deadline.after(30))
    assert lease_keys(store) == [layout.lease_key(QUEUE, 1)]


class DeleteDuringListing(DirectoryStore):
    """The directory backend with a hook run once between its directory walk and its read of
    the keys found: where a thread racing the next lease holder sometimes is."""

    def __init__(self, root: str, meanwhile: Callable[[], object]) -> None:
        super().__init__(root, deadline=Deadline.after(30))
        self._meanwhile: Callable[[], object] | None = meanwhile

    def _describe(self, key: str) -> ListedObject | None:
        if self._meanwhile is not None:
            run, self._meanwhile = self._meanwhile, None
            run()
        return super()._describe(key)


def test_a_racer_that_lists_while_the_next_holder_replaces_a_released_lease_gets_nothing(
    tmp_path: Path, clock: MutableClock
) -> None:
    root = str(tmp_path / "state")
    leases = Leases(DirectoryStore(root, deadline=Deadline.after(30)), clock=clock)
    first = leases.acquire(QUEUE, seconds=60)
    assert first is not None
    leases.release(first, quiet_until=None, pace_s=1.0)
    winners: list[Lease | None] = []
    # The racer's walk has found generation 1; before it reads it, another invocation takes
    # generation 2 (and deletes generation 1).
    racing_store = DeleteDuringListing(
        root, meanwhile=lambda: winners.append(leases.acquire(QUEUE, seconds=60))
    )

    racer = Leases(racing_store, clock=clock).acquire(QUEUE, seconds=60)

    assert [w.generation for w in winners if w is not None] == [2]
    assert racer is None
