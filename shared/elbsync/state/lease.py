"""Leases: which invocation may write to a load balancer now.

Without compare-and-swap, a lease is a numbered series of objects, like event claims: the
holder of generation ``n`` created ``lease-n`` with create-if-absent, so exactly one invocation
wins each number. The next generation may be taken once generation ``n`` is released or has
expired; it expires when its holder's invocation must have stopped writing (its remaining
time), so a holder that dies blocks its balancer only until then.

Old generations are removed by the state expiry (never the newest of a lease), so a lease's
folder stays small. A released lease remembers when the balancer will accept writes again
(``quiet_until``) and how long a wait after a write proved enough (``pace_s``), so the next
holder neither writes into the busy window nor forgets what the last one learned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.state import layout
from elbsync.state.errors import KeyExistsError, StoreError
from elbsync.state.records import LeaseRecord, decode, encode, utc_now
from elbsync.state.store import ObjectStore

__all__ = ["Clock", "Lease", "LeaseUnclearError", "Leases"]

Clock = Callable[[], datetime]

_log = structlog.get_logger("elbsync.lease")


class LeaseUnclearError(Exception):
    """The newest generation vanished between listing and reading: do not guess."""


@dataclass(frozen=True)
class Lease:
    """A held lease: this invocation alone writes to the balancer until ``expires_at``."""

    name: str
    generation: int
    owner: str
    acquired_at: datetime
    expires_at: datetime
    #: Inherited from the previous holder: no write before then.
    quiet_until: datetime | None
    pace_s: float | None


class Leases:
    """Take and give back write leases kept in an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def acquire(
        self, name: str, *, seconds: float, deadline: Deadline | None = None
    ) -> Lease | None:
        """The lease for ``seconds``, or ``None`` while someone else holds it.

        Three requests: a listing, a read of the latest generation, the create of the next.
        """
        try:
            latest = self._latest(name, deadline)
        except LeaseUnclearError:
            return None
        now = self.clock()
        if latest is not None and latest.status == "held" and latest.expires_at > now:
            return None
        generation = (latest.generation if latest is not None else 0) + 1
        record = LeaseRecord(
            name=name,
            generation=generation,
            owner=uuid.uuid4().hex,
            status="held",
            acquired_at=now,
            expires_at=now + timedelta(seconds=max(0.0, seconds)),
            quiet_until=latest.quiet_until if latest is not None else None,
            pace_s=latest.pace_s if latest is not None else None,
        )
        try:
            self.store.create(layout.lease_key(name, generation), encode(record), deadline=deadline)
        except KeyExistsError:
            return None
        _log.debug("lease_acquired", lease=name, generation=generation)
        return Lease(
            name=name,
            generation=generation,
            owner=record.owner,
            acquired_at=now,
            expires_at=record.expires_at,
            quiet_until=record.quiet_until,
            pace_s=record.pace_s,
        )

    def release(
        self,
        lease: Lease,
        *,
        quiet_until: datetime | None,
        pace_s: float | None,
        deadline: Deadline | None = None,
    ) -> None:
        """Give the lease back now; if that fails it simply expires at ``expires_at``."""
        now = self.clock()
        record = LeaseRecord(
            name=lease.name,
            generation=lease.generation,
            owner=lease.owner,
            status="released",
            acquired_at=lease.acquired_at,
            expires_at=now,
            quiet_until=quiet_until,
            pace_s=pace_s,
        )
        try:
            self.store.put(
                layout.lease_key(lease.name, lease.generation), encode(record), deadline=deadline
            )
        except (StoreError, DeadlineExceededError) as exc:
            _log.warning("lease_release_failed", lease=lease.name, error=exc.to_dict())

    def _latest(self, name: str, deadline: Deadline | None) -> LeaseRecord | None:
        """The newest generation, or ``None`` when there has never been one.

        Acquiring never deletes a generation (a listing racing with a delete could look empty
        and hand out generation 1 again); old generations are removed by the state expiry,
        which always keeps the newest of each lease.
        """
        newest: tuple[int, str] | None = None
        for listed in self.store.list(layout.lease_prefix(name), deadline=deadline):
            generation = layout.lease_generation(listed.key)
            if generation is not None and (newest is None or generation > newest[0]):
                newest = (generation, listed.key)
        if newest is None:
            return None
        stored = self.store.get(newest[1], deadline=deadline)
        if stored is None:
            raise LeaseUnclearError(name)
        return decode(LeaseRecord, newest[1], stored.data)
