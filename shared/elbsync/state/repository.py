"""Records on top of an :class:`~elbsync.state.store.ObjectStore`.

Correctness does not rest on compare-and-swap (OBS has none for PUT):
- :meth:`StateRepository.add` is a create-if-absent, so replaying "record this" is harmless;
- :meth:`StateRepository.update` re-reads the record and refuses to move it backwards or to
  write over a newer revision (:func:`~elbsync.state.records.check_transition`);
- a terminal record is *created* under ``done/`` (first terminal decision wins, the same
  terminal status again is a no-op) and only then removed from ``pending/``; a pending copy
  that a slow writer puts back after that is found and dropped on the next update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.state import layout
from elbsync.state.errors import (
    CorruptRecordError,
    KeyExistsError,
    TransitionRefusedError,
    WriteOutcomeUnknownError,
)
from elbsync.state.records import (
    AuditEntry,
    CheckJob,
    Drain,
    LifecycleAction,
    WaitingRecord,
    WriteIntent,
    check_transition,
    decode,
    encode,
    utc_now,
)
from elbsync.state.store import ListedObject, ObjectStore

__all__ = ["WAITING_KINDS", "Clock", "ExpiryPolicy", "ExpiryReport", "StateRepository"]

R = TypeVar("R", bound=WaitingRecord)
Clock = Callable[[], datetime]

_log = structlog.get_logger("elbsync.state")

WAITING_KINDS: tuple[type[WaitingRecord], ...] = (CheckJob, LifecycleAction, Drain, WriteIntent)


def _kind_of(model: type[WaitingRecord]) -> str:
    default = model.model_fields["kind"].default
    assert isinstance(default, str)
    return default


@dataclass(frozen=True)
class ExpiryPolicy:
    """How long records that no longer wait are kept."""

    #: Terminal check jobs, lifecycle actions and drains under ``done/``.
    finished_after: timedelta = timedelta(days=7)
    #: Idempotency claims and stored replies: longer than any trigger redelivers an event.
    idempotency_after: timedelta = timedelta(days=2)
    #: Audit entries.
    audit_after: timedelta = timedelta(days=30)
    #: Old generations of write leases (the newest of each lease is always kept).
    leases_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class ExpiryReport:
    examined: int
    deleted: int
    #: ``False`` when the deadline stopped the sweep; the next one carries on.
    complete: bool


class StateRepository:
    """Typed, monotonic access to the records of :mod:`elbsync.state.records`."""

    def __init__(self, store: ObjectStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    # -- reading ------------------------------------------------------------------------------

    def _read(self, model: type[R], key: str, deadline: Deadline | None) -> tuple[R, str] | None:
        stored = self.store.get(key, deadline=deadline)
        if stored is None:
            return None
        return decode(model, key, stored.data), stored.etag

    def load(self, model: type[R], record_id: str, *, deadline: Deadline | None = None) -> R | None:
        """The record, finished or not; ``None`` if it was never added (or has expired)."""
        kind = _kind_of(model)
        for key in (layout.done_key(kind, record_id), layout.pending_key(kind, record_id)):
            found = self._read(model, key, deadline)
            if found is not None:
                return found[0]
        return None

    def pending_ids(
        self,
        model: type[WaitingRecord],
        *,
        partition: str | None = None,
        deadline: Deadline | None = None,
    ) -> Iterator[str]:
        """Ids of the waiting records of one kind (of one ``partition``, such as a write
        queue, when given): one listing request per 1,000 of them."""
        prefix = layout.pending_prefix(_kind_of(model))
        if partition is not None:
            prefix += f"{layout.record_id(partition, 'partition')}/"
        for listed in self.store.list(prefix, deadline=deadline):
            yield layout.record_id_of(listed.key)

    def pending(self, model: type[R], *, deadline: Deadline | None = None) -> Iterator[R]:
        """Every waiting record of one kind (a listing plus one read per record).

        A record finished between the listing and the read is skipped; an unreadable one is
        logged and skipped so it cannot stall the others.
        """
        for record_id in self.pending_ids(model, deadline=deadline):
            found = self.load_pending(model, record_id, deadline=deadline)
            if found is not None:
                yield found

    def load_done(
        self, model: type[R], record_id: str, *, deadline: Deadline | None = None
    ) -> R | None:
        """A finished record by id (one read); ``None`` while it still waits (or never was)."""
        found = self._read(model, layout.done_key(_kind_of(model), record_id), deadline)
        return None if found is None else found[0]

    def load_pending(
        self, model: type[R], record_id: str, *, deadline: Deadline | None = None
    ) -> R | None:
        """A waiting record by id (one read); ``None`` if it finished meanwhile or is unreadable
        (logged), so one bad record cannot stall the others."""
        key = layout.pending_key(_kind_of(model), record_id)
        try:
            found = self._read(model, key, deadline)
        except CorruptRecordError as exc:
            _log.error("state_record_unreadable", key=key, problem=exc.message)
            return None
        return None if found is None else found[0]

    # -- writing ------------------------------------------------------------------------------

    def add(self, record: R, *, deadline: Deadline | None = None) -> R:
        """Record something new that waits; if it is already recorded, return what is stored.

        Safe to replay: the pending record is created only if absent, and a record that has
        already finished is returned as it is, not revived.
        """
        kind = record.kind
        for _ in range(2):
            done = self._read(type(record), layout.done_key(kind, record.record_id), deadline)
            if done is not None:
                return done[0]
            if record.terminal:
                return self._finish(record, deadline)
            key = layout.pending_key(kind, record.record_id)
            try:
                self.store.create(key, encode(record), deadline=deadline)
                self._log_write("state_record_added", record)
                return record
            except KeyExistsError:
                existing = self._read(type(record), key, deadline)
                if existing is not None:
                    return existing[0]
                # Finished and removed between our two requests: look again.
        raise TransitionRefusedError(
            record.record_id, current="changing", requested=record.status, reason="kept changing"
        )

    def update(self, record: R, *, deadline: Deadline | None = None) -> R:
        """Write a changed record (loaded earlier and edited); return what is now stored.

        Refused (:class:`TransitionRefusedError`) when the stored record is finished differently,
        has moved further on, or has a newer revision than ``record`` was based on. Writing the
        same terminal status again returns the stored record unchanged.
        """
        kind = record.kind
        lost: WriteOutcomeUnknownError | None = None
        for _ in range(2):
            done = self._read(type(record), layout.done_key(kind, record.record_id), deadline)
            pending_key = layout.pending_key(kind, record.record_id)
            if done is not None:
                self._drop_stale_pending(pending_key, deadline)
                if done[0].status == record.status:
                    return done[0]
                raise TransitionRefusedError(
                    record.record_id,
                    current=done[0].status,
                    requested=record.status,
                    reason="already finished",
                )
            found = self._read(type(record), pending_key, deadline)
            if found is None:
                raise TransitionRefusedError(
                    record.record_id,
                    current="absent",
                    requested=record.status,
                    reason="not recorded",
                )
            current = found[0]
            if not check_transition(current, record):
                return current
            now = self.clock()
            changes: dict[str, object] = {"revision": current.revision + 1, "updated_at": now}
            if record.terminal and record.finished_at is None:
                changes["finished_at"] = now
            new = record.model_copy(update=changes)
            if new.terminal:
                return self._finish(new, deadline)
            try:
                self.store.put(pending_key, encode(new), deadline=deadline)
            except WriteOutcomeUnknownError as exc:
                # Reply lost and someone else's bytes (or none) are there: decide again from
                # what is stored now rather than writing blindly.
                lost = exc
                continue
            self._log_write("state_record_updated", new)
            return new
        assert lost is not None
        raise lost

    def rewrite(self, record: R, *, deadline: Deadline | None = None) -> R:
        """Store a waiting record that this caller has just read and changed, in one write.

        For the poller's own bookkeeping (the next poll time, partial progress): no re-read,
        so two overlapping writers may both write and the last one wins, which is harmless for
        a record that still waits. A record another writer finished meanwhile is not revived
        for long: its pending copy is dropped by the next update or finish.
        """
        if record.terminal:
            return self.finish(record, deadline=deadline)
        new = record.model_copy(
            update={"revision": record.revision + 1, "updated_at": self.clock()}
        )
        self.store.put(
            layout.pending_key(record.kind, record.record_id), encode(new), deadline=deadline
        )
        self._log_write("state_record_updated", new)
        return new

    def finish(self, record: R, *, deadline: Deadline | None = None) -> R:
        """Finish a record this caller has just read: create it under ``done/`` (first terminal
        decision wins), then delete the pending copy. Two writes, no reads; returns what is
        stored (another writer's decision when it finished first)."""
        if not record.terminal:
            raise ValueError(f"{record.kind} {record.record_id} is not finished ({record.status})")
        return self._finish(
            record.model_copy(update={"revision": record.revision + 1, "updated_at": self.clock()}),
            deadline,
            same_status_only=False,
        )

    def _finish(self, record: R, deadline: Deadline | None, *, same_status_only: bool = True) -> R:
        kind = record.kind
        done_key = layout.done_key(kind, record.record_id)
        if record.finished_at is None:
            record = record.model_copy(update={"finished_at": self.clock()})
        try:
            self.store.create(done_key, encode(record), deadline=deadline)
            result = record
            self._log_write("state_record_finished", record)
        except KeyExistsError:
            existing = self._read(type(record), done_key, deadline)
            if existing is None:  # expired in between: nothing left to protect
                raise
            if same_status_only and existing[0].status != record.status:
                raise TransitionRefusedError(
                    record.record_id,
                    current=existing[0].status,
                    requested=record.status,
                    reason="already finished",
                ) from None
            result = existing[0]
        self._drop_stale_pending(layout.pending_key(kind, record.record_id), deadline)
        return result

    def _drop_stale_pending(self, key: str, deadline: Deadline | None) -> None:
        try:
            self.store.delete(key, deadline=deadline)
        except WriteOutcomeUnknownError:
            # Someone re-wrote the pending copy meanwhile; the done record already wins, and
            # the next update drops the copy again.
            _log.warning("state_pending_copy_left", key=key)

    def _log_write(self, event: str, record: WaitingRecord) -> None:
        _log.info(
            event,
            record_kind=record.kind,
            record_id=record.record_id,
            status=record.status,
            revision=record.revision,
        )

    # -- audit --------------------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry, *, deadline: Deadline | None = None) -> str:
        """Add one entry to the audit trail (never overwritten); return its key.

        Appending the same entry (same ``entry_id`` and time) twice stores it once.
        """
        key = layout.audit_key(entry.at, entry.entry_id)
        with contextlib.suppress(KeyExistsError):
            self.store.create(key, encode(entry), deadline=deadline)
        return key

    def audit_entries(
        self, day: datetime, *, deadline: Deadline | None = None
    ) -> Iterator[AuditEntry]:
        """The audit entries of one UTC day, oldest first."""
        for listed in self.store.list(layout.audit_prefix(day), deadline=deadline):
            stored = self.store.get(listed.key, deadline=deadline)
            if stored is not None:
                yield decode(AuditEntry, listed.key, stored.data)

    # -- expiry -------------------------------------------------------------------------------

    def _expire_leases(self, cutoff: datetime, deadline: Deadline | None) -> tuple[int, int]:
        """Delete lease generations older than ``cutoff``, except the newest of each lease."""
        examined = deleted = 0
        by_lease: dict[str, list[ListedObject]] = {}
        for listed in self.store.list(layout.LEASES, deadline=deadline):
            examined += 1
            by_lease.setdefault(listed.key.rsplit("/", 1)[0], []).append(listed)
        for generations in by_lease.values():
            for listed in sorted(generations, key=lambda o: o.key)[:-1]:
                if listed.last_modified < cutoff:
                    self.store.delete(listed.key, deadline=deadline)
                    deleted += 1
        return examined, deleted

    def expire(
        self, policy: ExpiryPolicy | None = None, *, deadline: Deadline | None = None
    ) -> ExpiryReport:
        """Delete finished records, idempotency records and audit entries past their age.

        Ages come from the store's last-modified times. Stops early (``complete=False``) when
        the deadline runs out, leaving the rest for the next run.
        """
        policy = policy or ExpiryPolicy()
        now = self.clock()
        examined = deleted = 0
        areas = (
            (layout.DONE, now - policy.finished_after, False),
            (layout.IDEMPOTENCY, now - policy.idempotency_after, False),
            # Audit keys sort by time, so the sweep can stop at the first young entry.
            (layout.AUDIT, now - policy.audit_after, True),
        )
        try:
            examined, deleted = self._expire_leases(now - policy.leases_after, deadline)
            for prefix, cutoff, ordered in areas:
                for listed in self.store.list(prefix, deadline=deadline):
                    examined += 1
                    if listed.last_modified >= cutoff:
                        if ordered:
                            break
                        continue
                    try:
                        self.store.delete(listed.key, deadline=deadline, expected_etag=listed.etag)
                    except WriteOutcomeUnknownError:
                        continue  # rewritten since the listing: young again
                    deleted += 1
        except DeadlineExceededError:
            _log.info("state_expiry_paused", examined=examined, deleted=deleted)
            return ExpiryReport(examined, deleted, complete=False)
        _log.info("state_expiry_finished", examined=examined, deleted=deleted)
        return ExpiryReport(examined, deleted, complete=True)
