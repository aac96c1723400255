"""State that outlives one invocation: an object store and the records kept in it.

Open the store named by ``ELBSYNC_STATE_URL`` with :func:`open_store`, then use
:class:`StateRepository` for check jobs, lifecycle actions, drains and the audit trail, and
:class:`Idempotency` for events. ``docs/state.md`` describes the backends, the key layout, the
record schemas and their transitions.
"""

from elbsync.state.errors import (
    CorruptRecordError,
    EventInProgressError,
    IdempotencyKeyReusedError,
    InvalidKeyError,
    KeyExistsError,
    StateError,
    StoreAccessDeniedError,
    StoreError,
    StoreUnavailableError,
    TransitionRefusedError,
    WriteOutcomeUnknownError,
)
from elbsync.state.factory import open_store
from elbsync.state.idempotency import (
    Claim,
    Idempotency,
    Replay,
    idempotency_key,
    payload_hash,
)
from elbsync.state.records import (
    SCHEMA_VERSION,
    AuditEntry,
    CheckFinding,
    CheckJob,
    Drain,
    DrainTarget,
    IdempotencyRecord,
    LifecycleAction,
    LifecycleActionRef,
    WaitedMember,
    WaitingRecord,
    check_transition,
)
from elbsync.state.repository import ExpiryPolicy, ExpiryReport, StateRepository
from elbsync.state.store import ListedObject, ListPage, ObjectStore, StoredObject

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "CheckFinding",
    "CheckJob",
    "Claim",
    "CorruptRecordError",
    "Drain",
    "DrainTarget",
    "EventInProgressError",
    "ExpiryPolicy",
    "ExpiryReport",
    "Idempotency",
    "IdempotencyKeyReusedError",
    "IdempotencyRecord",
    "InvalidKeyError",
    "KeyExistsError",
    "LifecycleAction",
    "LifecycleActionRef",
    "ListPage",
    "ListedObject",
    "ObjectStore",
    "Replay",
    "StateError",
    "StateRepository",
    "StoreAccessDeniedError",
    "StoreError",
    "StoreUnavailableError",
    "StoredObject",
    "TransitionRefusedError",
    "WaitedMember",
    "WaitingRecord",
    "WriteOutcomeUnknownError",
    "check_transition",
    "idempotency_key",
    "open_store",
    "payload_hash",
]
