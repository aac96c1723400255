"""Member check jobs: started when the write path has added members, polled by the poller
until ELB has processed them, then finished with their rendered findings.

Store cost per job: one create when it starts; per poll, the read the poller does anyway and
one write while it is still processing; when it finishes, a create under ``done/`` and the
delete of the pending copy. A failed job is started again, at most
:data:`MAX_CHECK_RETRIES` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from elbsync.clients.elb import ElbClient
from elbsync.deadline import Deadline
from elbsync.errors import ElbsyncError, NotFoundError
from elbsync.state.errors import StateError
from elbsync.state.records import CheckFinding, CheckJob, WriteIntent
from elbsync.state.repository import StateRepository
from elbsync.waits.findings import findings as rendered_findings

__all__ = ["FIRST_POLL_DELAY", "MAX_CHECK_RETRIES", "CheckJobs", "Finished"]

_log = structlog.get_logger("elbsync.check_jobs")

FIRST_POLL_DELAY = timedelta(seconds=5)
MAX_CHECK_RETRIES = 2


@dataclass(frozen=True)
class Finished:
    """A job that no longer waits: its findings (empty when it failed or expired)."""

    job: CheckJob
    findings: tuple[CheckFinding, ...]


class CheckJobs:
    def __init__(
        self,
        elb: ElbClient,
        repo: StateRepository,
        *,
        clock: Callable[[], datetime],
        deadline: Deadline | None = None,
    ) -> None:
        self.elb = elb
        self.repo = repo
        self.clock = clock
        self.deadline = deadline

    # -- start -------------------------------------------------------------------------------

    def start_for(self, intent: WriteIntent) -> tuple[str, ...]:
        """Start a job per member the intent added (or found) and listener its spec names.

        A job that cannot be started is logged, not fatal: the health gate still decides on
        live member health.
        """
        spec = intent.checks
        if spec is None:
            return ()
        job_ids = []
        for pool in intent.pools:
            for index in range(len(pool.changes)):
                result = pool.result_of(index)
                if result is None or result.result not in ("added", "existed"):
                    continue
                if not result.member_id:
                    continue
                for listener_id in spec.listeners.get(pool.pool_id, ()):
                    job_id = self.start(
                        pool.pool_id,
                        result.member_id,
                        listener_id,
                        until=spec.until,
                        lifecycle_action_id=spec.lifecycle_action_id,
                    )
                    if job_id is not None:
                        job_ids.append(job_id)
        return tuple(job_ids)

    def start(
        self,
        pool_id: str,
        member_id: str,
        listener_id: str,
        *,
        until: datetime,
        lifecycle_action_id: str | None = None,
        retries: int = 0,
    ) -> str | None:
        """:meth:`create`, with a failure logged instead of raised (``None``)."""
        try:
            return self.create(
                pool_id,
                member_id,
                listener_id,
                until=until,
                lifecycle_action_id=lifecycle_action_id,
                retries=retries,
            ).job_id
        except (ElbsyncError, StateError) as exc:
            _log.warning(
                "check_job_not_started",
                member_id=member_id,
                listener_id=listener_id,
                error=exc.to_dict(),
            )
            return None

    def create(
        self,
        pool_id: str,
        member_id: str,
        listener_id: str,
        *,
        until: datetime,
        lifecycle_action_id: str | None = None,
        retries: int = 0,
    ) -> CheckJob:
        """Start a job in ELB and record it for the poller; returns the record."""
        job_id = self.elb.create_check_job(member_id, listener_id)
        return self.repo.add(
            CheckJob(
                job_id=job_id,
                member_id=member_id,
                pool_id=pool_id,
                listener_id=listener_id,
                retries=retries,
                next_poll_at=self.clock() + FIRST_POLL_DELAY,
                poll_until=until,
                lifecycle_action_id=lifecycle_action_id,
            ),
            deadline=self.deadline,
        )

    # -- advance -----------------------------------------------------------------------------

    def advance(self, job: CheckJob) -> Finished | None:
        """Poll one due job; returns it once finished, ``None`` while ELB still works on it.

        A transient failure of the poll raises: the job stays as it is for the next tick.
        """
        now = self.clock()
        if job.poll_until is not None and now >= job.poll_until:
            expired = self.repo.finish(job.model_copy(update={"status": "expired"}))
            _log.error("check_job_expired", job_id=job.job_id, member_id=job.member_id)
            return Finished(expired, ())
        try:
            remote = self.elb.show_check_job(job.job_id)
        except NotFoundError:
            return self._retry_or_fail(job, "ELB no longer knows the job")
        if remote.status == "processing":
            wait = min(30, 5 * (job.attempts + 1))
            self.repo.rewrite(
                job.model_copy(
                    update={
                        "status": "processing",
                        "attempts": job.attempts + 1,
                        "next_poll_at": now + timedelta(seconds=wait),
                    }
                )
            )
            return None
        if remote.status == "failed":
            return self._retry_or_fail(job, "ELB reported the check job failed")
        found = rendered_findings(remote)
        passed = not any(f.blocks for f in found)
        done = self.repo.finish(
            job.model_copy(update={"status": "processed", "passed": passed, "findings": found})
        )
        if not done.passed:
            _log.error(
                "check_job_found_problems",
                job_id=job.job_id,
                member_id=job.member_id,
                listener_id=job.listener_id,
                reasons=[f.reason for f in done.findings if f.blocks],
            )
        return Finished(done, done.findings)

    def _retry_or_fail(self, job: CheckJob, why: str) -> Finished:
        """Finish the job as failed and start it again, a bounded number of times."""
        failed = self.repo.finish(job.model_copy(update={"status": "failed"}))
        if job.retries >= MAX_CHECK_RETRIES:
            _log.error("check_job_failed", job_id=job.job_id, member_id=job.member_id, reason=why)
            return Finished(failed, ())
        new_id = self.start(
            job.pool_id,
            job.member_id,
            job.listener_id,
            until=job.poll_until or self.clock() + FIRST_POLL_DELAY,
            lifecycle_action_id=job.lifecycle_action_id,
            retries=job.retries + 1,
        )
        if new_id is None:
            _log.error("check_job_failed", job_id=job.job_id, reason=why)
        else:
            _log.warning("check_job_retried", job_id=job.job_id, new_job_id=new_id, reason=why)
        return Finished(failed, ())
