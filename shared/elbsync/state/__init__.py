"""State that outlives one invocation: an object store and the records kept in it.

Open the store named by ``ELBSYNC_STATE_URL`` with :func:`open_store`, then use
:class:`StateRepository` for check jobs, lifecycle actions, drains and the audit trail, and
:class:`Idempotency` for events. ``docs/state.md`` describes the backends, the key layout, the
record schemas and their transitions.
"""

from elbsync.state.errors import (
    CorruptRecord,
    EventInProgress,
    IdempotencyKeyReused,
    InvalidKey,
    KeyExists,
    StateError,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
    TransitionRefused,
    WriteOutcomeUnknown,
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
    "CorruptRecord",
    "Drain",
    "DrainTarget",
    "EventInProgress",
    "ExpiryPolicy",
    "ExpiryReport",
    "Idempotency",
    "IdempotencyKeyReused",
    "IdempotencyRecord",
    "InvalidKey",
    "KeyExists",
    "LifecycleAction",
    "LifecycleActionRef",
    "ListPage",
    "ListedObject",
    "ObjectStore",
    "Replay",
    "StateError",
    "StateRepository",
    "StoreAccessDenied",
    "StoreError",
    "StoreUnavailable",
    "StoredObject",
    "TransitionRefused",
    "WaitedMember",
    "WaitingRecord",
    "WriteOutcomeUnknown",
    "check_transition",
    "idempotency_key",
    "open_store",
    "payload_hash",
]
