"""What the member flows and the poller share in one invocation: the ELB client, the records,
the write path and the things that wait on it (check jobs, drains).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from elbsync.clients.elb import ElbClient
from elbsync.deadline import Deadline
from elbsync.flows.replies import MemberRow
from elbsync.members.writes import WritePath, outcomes_of
from elbsync.state.records import WriteIntent
from elbsync.state.repository import StateRepository
from elbsync.waits.check_jobs import CheckJobs

if TYPE_CHECKING:
    from elbsync.clients.autoscaling import AutoScalingClient
    from elbsync.runtime import Invocation
    from elbsync.state.store import ObjectStore
    from elbsync.waits.drains import Drains
    from elbsync.waits.lifecycle import LifecycleActions

__all__ = ["Membership", "membership_for"]


class Membership:
    def __init__(
        self,
        elb: ElbClient,
        repo: StateRepository,
        *,
        deadline: Deadline,
        actor: str,
        request_id: str,
        clock: Callable[[], datetime],
        pace_s: float = 1.0,
        linger_s: float = 0.25,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.elb = elb
        self.repo = repo
        self.deadline = deadline
        self.actor = actor
        self.request_id = request_id
        self.clock = clock
        self.checks = CheckJobs(elb, repo, clock=clock, deadline=deadline)
        extra = {"sleep": sleep} if sleep is not None else {}
        self.writes = WritePath(
            elb,
            repo,
            deadline=deadline,
            clock=clock,
            pace_s=pace_s,
            linger_s=linger_s,
            actor=actor,
            request_id=request_id,
            start_checks=self.checks.start_for,
            **extra,
        )

    def lifecycle_actions(self, autoscaling: AutoScalingClient) -> LifecycleActions:
        from elbsync.waits.lifecycle import LifecycleActions

        return LifecycleActions(
            self.elb,
            autoscaling,
            self.repo,
            self.writes,
            clock=self.clock,
            actor=self.actor,
            request_id=self.request_id,
        )

    def drains(self, autoscaling: AutoScalingClient | None) -> Drains:
        """Drains; without ``autoscaling`` they complete no lifecycle action (deployments)."""
        from elbsync.waits.drains import Drains

        return Drains(autoscaling, self.repo, self.writes, clock=self.clock)

    def outcomes(
        self, record_ids: Iterable[str]
    ) -> tuple[list[MemberRow], list[WriteIntent], bool]:
        """The outcomes of intents as they stand (``queued`` for changes still waiting), the
        finished intents, and whether every one is finished."""
        intents = self.writes.current(record_ids)
        rows = [row for intent in intents for row in outcomes_of(intent)]
        done = [intent for intent in intents if intent.terminal]
        return rows, done, len(done) == len(intents)


def membership_for(invocation: Invocation, store: ObjectStore | None = None) -> Membership:
    """The write path and records of one invocation, paced by its settings."""
    settings = invocation.settings
    return Membership(
        invocation.elb(),
        StateRepository(store or invocation.store(), clock=invocation.clock),
        deadline=invocation.deadline,
        actor=invocation.function_name,
        request_id=invocation.request_id,
        clock=invocation.clock,
        pace_s=settings.busy_wait_ms / 1000,
        linger_s=settings.write_linger_ms / 1000,
    )
