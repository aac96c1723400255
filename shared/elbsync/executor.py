"""The executor: the only code that changes ELB membership.

It turns planned changes into the fewest batch calls (at most 200 members each), runs pools of
different load balancers in parallel and writes to one load balancer one call at a time (ELB
refuses writes while a balancer is busy). When ELB refuses a whole batch for a bad member, the
batch is split in halves until the bad members are isolated: they are reported as failed with
ELB's error and every other member is still applied.
"""

from __future__ import annotations

import contextvars
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

import structlog

from elbsync.elb import ElbClient, MemberRef, MemberResult, MemberUpdate, NewMember, chunks
from elbsync.errors import ApiError, BadRequestError

Kind = Literal["add", "update", "delete"]
Outcome = Literal["added", "existed", "reweighted", "draining", "deleted", "not_found", "failed"]
Item = NewMember | MemberUpdate | MemberRef
ItemT = TypeVar("ItemT", NewMember, MemberUpdate, MemberRef)

_log = structlog.get_logger("elbsync.executor")

#: The most calls one refused batch may spend isolating its bad members.
ISOLATION_CALLS = 40


@dataclass(frozen=True)
class Change:
    """One member change: what to send, and how to call it in the reply when it works."""

    kind: Kind
    item: Item
    address: str | None = None
    protocol_port: int | None = None
    label: Outcome | None = None  # for updates: "reweighted" or "draining"


@dataclass(frozen=True)
class PoolWrite:
    pool_id: str
    serialisation_key: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class MemberOutcome:
    pool_id: str
    result: Outcome
    address: str | None = None
    protocol_port: int | None = None
    member_id: str | None = None
    weight: int | None = None
    error: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "pool_id": self.pool_id,
            "result": self.result,
            "address": self.address,
            "protocol_port": self.protocol_port,
            "member_id": self.member_id,
        }
        if self.weight is not None:
            data["weight"] = self.weight
        if self.error is not None:
            data["error"] = self.error
        return data


Send = Callable[[str, Sequence[Item]], list[MemberResult]]


class Executor:
    def __init__(self, elb: ElbClient, *, max_parallel: int = 4) -> None:
        self._elb = elb
        self._max_parallel = max_parallel
        self._senders: dict[Kind, Send] = {
            "add": lambda pool, items: elb.batch_add(pool, _typed(items, NewMember)),
            "update": lambda pool, items: elb.batch_update(pool, _typed(items, MemberUpdate)),
            "delete": lambda pool, items: elb.batch_delete(pool, _typed(items, MemberRef)),
        }

    def apply(self, writes: Sequence[PoolWrite]) -> list[MemberOutcome]:
        """Apply every write; outcomes come back in the order of ``writes`` and their changes."""
        groups: dict[str, list[int]] = defaultdict(list)
        for index, write in enumerate(writes):
            groups[write.serialisation_key].append(index)
        results: dict[int, list[MemberOutcome]] = {}

        def run_group(indexes: list[int]) -> None:
            for index in indexes:  # one load balancer: strictly one call after another
                results[index] = self._apply_pool(writes[index])

        if len(groups) <= 1:
            for indexes in groups.values():
                run_group(indexes)
        else:
            workers = min(self._max_parallel, len(groups))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="elb") as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, run_group, indexes)
                    for indexes in groups.values()
                ]
                for future in futures:
                    future.result()
        return [outcome for index in range(len(writes)) for outcome in results[index]]

    def _apply_pool(self, write: PoolWrite) -> list[MemberOutcome]:
        outcomes: list[MemberOutcome] = []
        for kind in ("add", "update", "delete"):
            changes = [c for c in write.changes if c.kind == kind]
            if kind == "delete":  # ELB refuses ids and address+port mixed in one call
                by_id = [c for c in changes if isinstance(c.item, MemberRef) and c.item.by_id]
                rest = [c for c in changes if c not in by_id]
                batches = [by_id, rest]
            else:
                batches = [changes]
            for batch in batches:
                for chunk in chunks(batch):
                    outcomes.extend(self._send(write.pool_id, kind, list(chunk)))
        return outcomes

    def _send(
        self,
        pool_id: str,
        kind: Kind,
        chunk: list[Change],
        budget: list[int] | None = None,
        refused: BadRequestError | None = None,
    ) -> list[MemberOutcome]:
        """One batch call; on a 400 for the whole batch, halve it until the bad ones stand alone.

        Halving costs about two calls per bad member and level; ``budget`` caps the calls one
        batch may spend on it (a binding with a wrong subnet makes every member bad), after
        which what is left is reported failed with ELB's error.
        """
        if not chunk:
            return []
        budget = budget if budget is not None else [ISOLATION_CALLS]
        if refused is not None and budget[0] <= 0:
            return [_failed(pool_id, change, refused) for change in chunk]
        budget[0] -= 1
        try:
            replies = self._senders[kind](pool_id, [c.item for c in chunk])
        except BadRequestError as exc:
            if len(chunk) == 1 or budget[0] <= 0:
                _log.warning(
                    "member_change_refused",
                    pool_id=pool_id,
                    kind=kind,
                    members=[c.address for c in chunk],
                    error_code=exc.error_code,
                )
                return [_failed(pool_id, change, exc) for change in chunk]
            middle = len(chunk) // 2
            first = self._send(pool_id, kind, chunk[:middle], budget, exc)
            return first + self._send(pool_id, kind, chunk[middle:], budget, exc)
        except ApiError as exc:
            _log.error(
                "member_batch_failed",
                pool_id=pool_id,
                kind=kind,
                size=len(chunk),
                error_code=exc.error_code,
                status=exc.status,
            )
            return [_failed(pool_id, change, exc) for change in chunk]
        return [_outcome(pool_id, change, reply) for change, reply in _pair(chunk, replies)]


def _typed(items: Sequence[Item], kind: type[ItemT]) -> list[ItemT]:
    typed = [item for item in items if isinstance(item, kind)]
    if len(typed) != len(items):
        raise TypeError(f"a {kind.__name__} batch holds other items")
    return typed


def _pair(chunk: list[Change], replies: list[MemberResult]) -> list[tuple[Change, MemberResult]]:
    """Match replies to changes: by position when the counts agree, else by address and port."""
    if len(replies) == len(chunk):
        return list(zip(chunk, replies, strict=True))
    by_key = {(r.address, r.protocol_port): r for r in replies}
    by_id = {r.id: r for r in replies if r.id}
    paired = []
    for change in chunk:
        item_id = getattr(change.item, "id", None)
        reply = (
            by_id.get(item_id) if item_id else by_key.get((change.address, change.protocol_port))
        )
        paired.append((change, reply or MemberResult(ret_status="successful")))
    return paired


def _outcome(pool_id: str, change: Change, reply: MemberResult) -> MemberOutcome:
    if change.kind == "add":
        result: Outcome = "existed" if reply.ret_status == "existed" else "added"
    elif change.kind == "delete":
        result = "not_found" if reply.ret_status == "not found" else "deleted"
    else:
        result = change.label or "reweighted"
    item_id = getattr(change.item, "id", None)
    weight = getattr(change.item, "weight", None)
    return MemberOutcome(
        pool_id=pool_id,
        result=result,
        address=change.address or reply.address,
        protocol_port=change.protocol_port or reply.protocol_port,
        member_id=reply.id or item_id,
        weight=weight if weight is not None else reply.weight,
    )


def _failed(pool_id: str, change: Change, error: ApiError) -> MemberOutcome:
    return MemberOutcome(
        pool_id=pool_id,
        result="failed",
        address=change.address,
        protocol_port=change.protocol_port,
        member_id=getattr(change.item, "id", None),
        error=error.to_dict(),
    )
