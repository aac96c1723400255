"""Where each record lives in the store (docs/state.md has the full picture).

::

    v1/pending/check-jobs/<job_id>.json              waiting: listed by the poller
    v1/pending/lifecycle-actions/<action_key>.json   waiting: listed by the poller
    v1/pending/drains/<drain_id>.json                waiting: listed by the poller
    v1/pending/write-queue/<queue>/<intent_id>.json  member changes waiting for a balancer's writer
    v1/leases/<queue>/lease-<generation>.json        who may write to a load balancer now
    v1/done/<kind>/<id>.json                         terminal; expired after a configurable age
    v1/idempotency/<sha256>/claim-<generation>.json  an invocation's claim on an event
    v1/idempotency/<sha256>/result.json              the reply stored for replays
    v1/idempotency/<sha256>/request.json             an HTTP request, kept to resume it by id
    v1/audit/<yyyy>/<mm>/<dd>/<time>-<entry_id>.json append-only audit trail

Only waiting records sit under ``v1/pending/``, so the poller's listing costs requests in
proportion to pending work, never to history. A record reaches ``v1/done/`` by a
create-if-absent, so the first terminal decision wins even without compare-and-swap.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from elbsync.errors import PathIdError

__all__ = [
    "AUDIT",
    "DONE",
    "FOLDERS",
    "IDEMPOTENCY",
    "LEASES",
    "PARTITIONED",
    "PENDING",
    "ROOT",
    "audit_key",
    "audit_prefix",
    "claim_generation",
    "claim_key",
    "done_key",
    "done_prefix",
    "idempotency_prefix",
    "lease_generation",
    "lease_key",
    "lease_prefix",
    "pending_key",
    "pending_prefix",
    "record_id",
    "record_id_of",
    "request_key",
    "result_key",
]

ROOT = "v1"
PENDING = f"{ROOT}/pending/"
DONE = f"{ROOT}/done/"
IDEMPOTENCY = f"{ROOT}/idempotency/"
LEASES = f"{ROOT}/leases/"
AUDIT = f"{ROOT}/audit/"

#: Record kind → the folder name used under ``pending/`` and ``done/``.
FOLDERS = {
    "check_job": "check-jobs",
    "lifecycle_action": "lifecycle-actions",
    "drain": "drains",
    "write_intent": "write-queue",
}

_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_CLAIM = re.compile(r"claim-(\d+)\.json$")
_LEASE = re.compile(r"lease-(\d+)\.json$")


def record_id(value: str, field: str = "id") -> str:
    """``value`` if it can name a record file, else :class:`~elbsync.errors.PathIdError`."""
    if not isinstance(value, str) or not _ID.match(value):
        raise PathIdError(f"not a valid id: {value!r}", field=field)
    return value


def _folder(kind: str) -> str:
    try:
        return FOLDERS[kind]
    except KeyError:
        raise ValueError(f"no folder for record kind {kind!r}") from None


def pending_prefix(kind: str) -> str:
    return f"{PENDING}{_folder(kind)}/"


#: Kinds whose ids are ``partition/id``: write intents live under their load balancer's queue.
PARTITIONED = frozenset({"write_intent"})


def _record_path(kind: str, rid: str) -> str:
    """A record id as a key path: one id, or ``partition/id`` for partitioned kinds."""
    parts = rid.split("/") if isinstance(rid, str) and kind in PARTITIONED else [rid]
    if len(parts) > 2 or (kind in PARTITIONED and len(parts) != 2):
        raise PathIdError(f"not a valid id: {rid!r}", field="id")
    return "/".join(record_id(part) for part in parts)


def pending_key(kind: str, rid: str) -> str:
    return f"{pending_prefix(kind)}{_record_path(kind, rid)}.json"


def done_prefix(kind: str) -> str:
    return f"{DONE}{_folder(kind)}/"


def done_key(kind: str, rid: str) -> str:
    return f"{done_prefix(kind)}{_record_path(kind, rid)}.json"


def record_id_of(key: str) -> str:
    """The record id in a ``pending/`` or ``done/`` key (``partition/id`` where partitioned)."""
    for area in (PENDING, DONE):
        if key.startswith(area):
            rest = key[len(area) :].split("/", 1)[-1]
            break
    else:
        rest = key.rsplit("/", 1)[-1]
    return rest[: -len(".json")] if rest.endswith(".json") else rest


def lease_prefix(name: str) -> str:
    return f"{LEASES}{record_id(name, 'lease')}/"


def lease_key(name: str, generation: int) -> str:
    return f"{lease_prefix(name)}lease-{generation:06d}.json"


def lease_generation(key: str) -> int | None:
    match = _LEASE.search(key)
    return int(match.group(1)) if match else None


def idempotency_prefix(key_hash: str) -> str:
    return f"{IDEMPOTENCY}{record_id(key_hash, 'idempotency_key')}/"


def claim_key(key_hash: str, generation: int) -> str:
    return f"{idempotency_prefix(key_hash)}claim-{generation:06d}.json"


def claim_generation(key: str) -> int | None:
    match = _CLAIM.search(key)
    return int(match.group(1)) if match else None


def result_key(key_hash: str) -> str:
    return f"{idempotency_prefix(key_hash)}result.json"


def request_key(key_hash: str) -> str:
    return f"{idempotency_prefix(key_hash)}request.json"


def audit_prefix(day: datetime | None = None) -> str:
    if day is None:
        return AUDIT
    return f"{AUDIT}{day.astimezone(timezone.utc):%Y/%m/%d}/"


def audit_key(at: datetime, entry_id: str) -> str:
    at = at.astimezone(timezone.utc)
    return f"{audit_prefix(at)}{at:%Y%m%dT%H%M%S.%fZ}-{record_id(entry_id, 'entry_id')}.json"
