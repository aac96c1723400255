"""Membership changes with their records: what scaling and deployment flows share.

:class:`Membership` applies writes through the :class:`~elbsync.executor.Executor`, audits every
change, starts member check jobs (never twice for one member and listener), and retires members:
drained at weight 0 with a recorded :class:`~elbsync.state.records.Drain` when the pool honours
weights and a drain time is asked for, deleted at once otherwise.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from pydantic import JsonValue

from elbsync.elb import ElbClient, Member, MemberRef, MemberUpdate
from elbsync.errors import ApiError
from elbsync.executor import Change, Executor, MemberOutcome, PoolWrite
from elbsync.state.records import (
    AuditEntry,
    CheckJob,
    Drain,
    DrainTarget,
    LifecycleActionRef,
    utc_now,
)
from elbsync.state.repository import StateRepository

_log = structlog.get_logger("elbsync.membership")

FIRST_POLL_DELAY = timedelta(seconds=5)
SUCCESS = frozenset({"added", "existed", "reweighted", "draining", "deleted", "not_found"})


@dataclass(frozen=True)
class PoolTarget:
    """What the executor must know of a pool: its writes' queue and whether weights count."""

    pool_id: str
    serialisation_key: str
    honours_weights: bool = True
    drain_seconds: int = 0

    @property
    def drains(self) -> bool:
        return self.honours_weights and self.drain_seconds > 0


@dataclass(frozen=True)
class Retired:
    outcomes: list[MemberOutcome]
    drain_id: str | None
    waiting: bool  # True when a drain still has to delete members later


def counts(outcomes: Sequence[MemberOutcome]) -> dict[str, int]:
    return dict(sorted(Counter(o.result for o in outcomes).items()))


class Membership:
    def __init__(
        self,
        elb: ElbClient,
        repo: StateRepository,
        *,
        actor: str,
        request_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.elb = elb
        self.repo = repo
        self.executor = Executor(elb)
        self.actor = actor
        self.request_id = request_id
        self.clock = clock
        self._open_checks: dict[tuple[str, str], str] | None = None

    # -- writing members -------------------------------------------------------------------

    def apply(self, writes: Sequence[PoolWrite], *, cause: str) -> list[MemberOutcome]:
        """Apply writes and audit each pool's changes (one entry per pool and result)."""
        outcomes = self.executor.apply([w for w in writes if w.changes])
        self.audit(outcomes, cause=cause)
        return outcomes

    def audit(self, outcomes: Sequence[MemberOutcome], *, cause: str) -> None:
        grouped: dict[tuple[str, str], list[MemberOutcome]] = defaultdict(list)
        for outcome in outcomes:
            grouped[(outcome.pool_id, outcome.result)].append(outcome)
        for (pool_id, result), items in grouped.items():
            entry = AuditEntry(
                action=f"members_{result}",
                subject=pool_id,
                outcome="failed" if result == "failed" else "ok",
                actor=self.actor,
                request_id=self.request_id,
                details={"cause": cause, "members": cast(JsonValue, [i.to_dict() for i in items])},
            )
            self.repo.append_audit(entry)

    def retire(
        self,
        groups: Sequence[tuple[PoolTarget, Sequence[Member]]],
        *,
        cause: str,
        then_complete: LifecycleActionRef | None = None,
        drain_id: str | None = None,
    ) -> Retired:
        """Retire members of several pools; one drain record covers every pool that drains.

        Members of a pool that drains (it honours weights and has a drain time) go to weight 0
        and are deleted by the poller once the longest drain time has passed; the others are
        deleted at once (a failed delete is left to the poller too). ``waiting`` is False when
        nothing is left for the poller: the caller then completes any lifecycle action itself.
        """
        drains = [(t, ms) for t, ms in groups if ms and t.drains]
        deletes = [(t, ms) for t, ms in groups if ms and not t.drains]
        outcomes: list[MemberOutcome] = []
        if deletes:
            outcomes += self.apply([_delete_write(t, ms) for t, ms in deletes], cause=cause)
        failed_deletes = [o for o in outcomes if o.result == "failed"]
        if not drains and not failed_deletes:
            return Retired(outcomes, None, waiting=False)

        draining = (
            self.apply([_drain_write(t, ms) for t, ms in drains], cause=cause) if drains else []
        )
        outcomes += draining
        targets = [
            DrainTarget(
                pool_id=o.pool_id,
                member_id=o.member_id,
                address=o.address,
                protocol_port=o.protocol_port,
            )
            for o in draining + failed_deletes
            if o.member_id and (o.result in SUCCESS or o in failed_deletes)
        ]
        if not targets:
            return Retired(outcomes, None, waiting=False)
        now = self.clock()
        identity = drain_id or _digest(cause, *(f"{t.pool_id}/{t.member_id}" for t in targets))
        record = Drain(
            drain_id=identity,
            targets=tuple(targets),
            delete_after=now
            + timedelta(seconds=max((t.drain_seconds for t, _ in drains), default=0)),
            then_complete=then_complete,
            reason=cause,
        )
        stored = self.repo.add(record)
        _log.info(
            "drain_recorded",
            drain_id=stored.drain_id,
            members=len(targets),
            delete_after=stored.delete_after.isoformat(),
        )
        return Retired(outcomes, stored.drain_id, waiting=True)

    # -- check jobs ------------------------------------------------------------------------

    def start_checks(
        self,
        pairs: Sequence[tuple[str, str, str]],
        *,
        until: datetime,
        lifecycle_action_id: str | None = None,
    ) -> tuple[list[str], list[dict[str, object]]]:
        """Start a check job per (pool, member, listener) not already being checked.

        Returns the job ids (those already running included) and the failures: a failed start
        is reported, not fatal, since the poller still gates on live member health.
        """
        job_ids: list[str] = []
        failures: list[dict[str, object]] = []
        for pool_id, member_id, listener_id in pairs:
            running = self._checks_in_progress().get((member_id, listener_id))
            if running is not None:
                job_ids.append(running)
                continue
            try:
                job_id = self.elb.create_check_job(member_id, listener_id)
            except ApiError as exc:
                failures.append(
                    {"member_id": member_id, "listener_id": listener_id, **exc.to_dict()}
                )
                continue
            now = self.clock()
            self.repo.add(
                CheckJob(
                    job_id=job_id,
                    member_id=member_id,
                    pool_id=pool_id,
                    listener_id=listener_id,
                    next_poll_at=now + FIRST_POLL_DELAY,
                    poll_until=until,
                    lifecycle_action_id=lifecycle_action_id,
                )
            )
            self._checks_in_progress()[(member_id, listener_id)] = job_id
            job_ids.append(job_id)
        return job_ids, failures

    def _checks_in_progress(self) -> dict[tuple[str, str], str]:
        if self._open_checks is None:
            self._open_checks = {
                (job.member_id, job.listener_id): job.job_id for job in self.repo.pending(CheckJob)
            }
        return self._open_checks


def _delete_write(target: PoolTarget, members: Sequence[Member]) -> PoolWrite:
    return PoolWrite(
        target.pool_id,
        target.serialisation_key,
        tuple(
            Change("delete", MemberRef(id=m.id), address=m.address, protocol_port=m.protocol_port)
            for m in members
        ),
    )


def _drain_write(target: PoolTarget, members: Sequence[Member]) -> PoolWrite:
    return PoolWrite(
        target.pool_id,
        target.serialisation_key,
        tuple(
            Change(
                "update",
                MemberUpdate(id=m.id, weight=0),
                address=m.address,
                protocol_port=m.protocol_port,
                label="draining",
            )
            for m in members
        ),
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
