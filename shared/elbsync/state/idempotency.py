"""Handling each event once, although triggers deliver at least once.

An event is named by its source and id (SMN ``message_id``, CloudEvent ``id``, an
``Idempotency-Key`` header) and fingerprinted by a hash of its payload. Before doing the work an
invocation *claims* the event; after it, it stores the reply, which every later delivery gets
back unchanged.

Without compare-and-swap, claims are numbered: claim 1 is created if absent, and when a claim
has expired (its invocation ran out of time or gave up), the next invocation creates claim
``n + 1``. Create-if-absent lets exactly one invocation win each number, so two invocations
never both believe they hold the current claim while it is valid. The stored reply is
create-if-absent too: should two invocations ever both finish (a claim outlived by its
worker), the first reply is the one kept, and the work itself is idempotent anyway.

Callers whose work is idempotent end to end may ask to *take over* a claim still in progress
(``begin(take_over=True)``). A claim cannot tell a live invocation from one that crashed, and
asynchronous triggers redeliver only a bounded number of times, so turning a redelivery away
could lose the event; taking over costs at most some duplicated, harmless work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from pydantic import JsonValue

from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.state import layout
from elbsync.state.errors import (
    EventInProgressError,
    IdempotencyKeyReusedError,
    KeyExistsError,
    StoreError,
)
from elbsync.state.records import IdempotencyRecord, decode, encode, utc_now
from elbsync.state.store import ObjectStore

__all__ = [
    "TAKE_OVER_ATTEMPTS",
    "Claim",
    "Clock",
    "Idempotency",
    "Replay",
    "Reply",
    "idempotency_key",
    "payload_hash",
]

Reply = dict[str, JsonValue]
#: How often one delivery tries for the next claim number while others take it first.
TAKE_OVER_ATTEMPTS = 3
Clock = Callable[[], datetime]

_log = structlog.get_logger("elbsync.state.idempotency")


def idempotency_key(source: str, event_id: str) -> str:
    """The stored name of an event: SHA-256 of its source and id (any characters allowed).

    The edge refuses text that is not valid Unicode; should a lone surrogate get here anyway,
    it is hashed as its code point ("surrogatepass") rather than crash, and valid text hashes
    exactly as plain UTF-8.
    """
    return hashlib.sha256(f"{source}\x00{event_id}".encode("utf-8", "surrogatepass")).hexdigest()


def payload_hash(payload: JsonValue) -> str:
    """SHA-256 of the payload as canonical JSON (sorted keys, no spaces), encoded like
    :func:`idempotency_key`'s text."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """This invocation may handle the event until ``expires_at``."""

    key: str
    source: str
    event_id: str
    payload_hash: str
    generation: int
    owner: str
    expires_at: datetime


@dataclass(frozen=True)
class Replay:
    """The event was handled before: here is the reply it got."""

    event_id: str
    reply: Reply
    completed_at: datetime


class Idempotency:
    """Claims, replies and replays of events, kept in an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def _read(self, key: str, deadline: Deadline | None) -> IdempotencyRecord | None:
        stored = self.store.get(key, deadline=deadline)
        return None if stored is None else decode(IdempotencyRecord, key, stored.data)

    def _replay(self, record: IdempotencyRecord, digest: str) -> Replay:
        if record.payload_hash != digest:
            raise IdempotencyKeyReusedError(record.event_id)
        return Replay(record.event_id, dict(record.reply or {}), record.created_at)

    def begin(
        self,
        *,
        source: str,
        event_id: str,
        payload: JsonValue,
        lease_seconds: float | None = None,
        deadline: Deadline | None = None,
        take_over: bool = False,
    ) -> Claim | Replay:
        """Claim the event, or return the stored reply if it was already handled.

        ``lease_seconds`` is how long the claim holds: the invocation's remaining time (by
        default, what the store's deadline has left). Raises :class:`IdempotencyKeyReusedError` for
        a known id with another payload and :class:`EventInProgressError` while another invocation
        holds a valid claim, unless ``take_over``: then a claim still in progress is taken over
        at once. That is for work that is idempotent end to end (the member_events flows): an
        invocation that crashed cannot say so, and a platform redelivery must not wait for its
        claim to run out, nor be turned away and lost.
        """
        key = idempotency_key(source, event_id)
        digest = payload_hash(payload)
        result = self._read(layout.result_key(key), deadline)
        if result is not None:
            return self._replay(result, digest)
        bound = deadline or self.store.deadline
        lease = bound.remaining() if lease_seconds is None else lease_seconds

        claimed = self._try_claim(key, source, event_id, digest, 1, lease, deadline)
        for _ in range(TAKE_OVER_ATTEMPTS):
            if claimed is not None:
                return claimed
            latest = self._latest_claim(key, deadline)
            if latest is not None and latest.payload_hash != digest:
                raise IdempotencyKeyReusedError(event_id)
            result = self._read(layout.result_key(key), deadline)
            if result is not None:
                return self._replay(result, digest)
            now = self.clock()
            if latest is not None and latest.status == "in_progress" and latest.expires_at > now:
                if not take_over:
                    retry_after_s = (latest.expires_at - now).total_seconds()
                    raise EventInProgressError(event_id, retry_after_s=retry_after_s)
                _log.warning(
                    "event_claim_taken_over",
                    event_id=event_id,
                    generation=latest.generation,
                    claimed_at=latest.created_at.isoformat(),
                )
            generation = (latest.generation if latest is not None else 1) + 1
            claimed = self._try_claim(key, source, event_id, digest, generation, lease, deadline)
        if claimed is None:
            raise EventInProgressError(event_id, retry_after_s=lease)
        return claimed

    def _try_claim(
        self,
        key: str,
        source: str,
        event_id: str,
        digest: str,
        generation: int,
        lease: float,
        deadline: Deadline | None,
    ) -> Claim | None:
        now = self.clock()
        record = IdempotencyRecord(
            key=key,
            source=source,
            event_id=event_id,
            payload_hash=digest,
            status="in_progress",
            generation=generation,
            owner=uuid.uuid4().hex,
            created_at=now,
            expires_at=now + timedelta(seconds=max(0.0, lease)),
        )
        try:
            self.store.create(layout.claim_key(key, generation), encode(record), deadline=deadline)
        except KeyExistsError:
            return None
        return Claim(key, source, event_id, digest, generation, record.owner, record.expires_at)

    def _latest_claim(self, key: str, deadline: Deadline | None) -> IdempotencyRecord | None:
        latest: tuple[int, str] | None = None
        for listed in self.store.list(layout.idempotency_prefix(key), deadline=deadline):
            generation = layout.claim_generation(listed.key)
            if generation is not None and (latest is None or generation > latest[0]):
                latest = (generation, listed.key)
        return None if latest is None else self._read(latest[1], deadline)

    def complete(self, claim: Claim, reply: Reply, *, deadline: Deadline | None = None) -> Reply:
        """Store the reply for replays; return the reply that is kept (the first one stored)."""
        record = IdempotencyRecord(
            key=claim.key,
            source=claim.source,
            event_id=claim.event_id,
            payload_hash=claim.payload_hash,
            status="completed",
            generation=claim.generation,
            owner=claim.owner,
            created_at=self.clock(),
            expires_at=self.clock(),
            reply=reply,
        )
        result_key = layout.result_key(claim.key)
        try:
            self.store.create(result_key, encode(record), deadline=deadline)
        except KeyExistsError:
            existing = self._read(result_key, deadline)
            if existing is not None and existing.reply is not None:
                return dict(existing.reply)
        return reply

    def release(self, claim: Claim, *, deadline: Deadline | None = None) -> None:
        """Give the claim up early (the work failed), so the next delivery can retry at once."""
        self._end_claim(claim, "released", None, deadline)

    def defer(self, claim: Claim, reply: Reply, *, deadline: Deadline | None = None) -> None:
        """The event's work is recorded but not finished (it waits in the write queue): give
        the claim up without storing a final reply. A redelivery runs the event again, finds
        its recorded work, and stores the reply once that work is done."""
        self._end_claim(claim, "queued", reply, deadline)

    def _end_claim(
        self,
        claim: Claim,
        status: Literal["released", "queued"],
        reply: Reply | None,
        deadline: Deadline | None,
    ) -> None:
        now = self.clock()
        record = IdempotencyRecord(
            key=claim.key,
            source=claim.source,
            event_id=claim.event_id,
            payload_hash=claim.payload_hash,
            status=status,
            generation=claim.generation,
            owner=claim.owner,
            created_at=now,
            expires_at=now,
            reply=reply,
        )
        # If this fails, the claim simply runs out at its expiry time.
        with contextlib.suppress(StoreError, DeadlineExceededError):
            self.store.put(
                layout.claim_key(claim.key, claim.generation), encode(record), deadline=deadline
            )

    def handle(
        self,
        *,
        source: str,
        event_id: str,
        payload: JsonValue,
        work: Callable[[], Reply],
        lease_seconds: float | None = None,
        deadline: Deadline | None = None,
    ) -> Reply:
        """Run ``work`` once per event and return its reply (the stored one on replays).

        When ``work`` raises, the claim is released and the error propagates, so a redelivery
        of the event tries again.
        """
        started = self.begin(
            source=source,
            event_id=event_id,
            payload=payload,
            lease_seconds=lease_seconds,
            deadline=deadline,
        )
        if isinstance(started, Replay):
            return started.reply
        try:
            reply = work()
        except BaseException:
            self.release(started, deadline=deadline)
            raise
        return self.complete(started, reply, deadline=deadline)
