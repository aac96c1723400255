"""One handler call and everything it works with, made on first use: credentials, the signed
API session, the ELB, Auto Scaling and ECS clients, and the state store.

An :class:`Invocation` is composed by :meth:`elbsync.runtime.wiring.Wiring.invocation`; nothing
in it reaches for a process global.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from elbsync.deadline import Deadline
from elbsync.http.retry import RetryPolicy
from elbsync.http.session import ApiSession
from elbsync.runtime.context import FunctionContext
from elbsync.runtime.credentials import Credentials
from elbsync.settings import Settings

if TYPE_CHECKING:
    from elbsync.clients.autoscaling import AutoScalingClient
    from elbsync.clients.ecs import EcsClient
    from elbsync.clients.elb import ElbClient
    from elbsync.state.store import ObjectStore

__all__ = ["Event", "Invocation", "Reply", "StoreFactory", "Work"]

Event = Mapping[str, object]
Reply = dict[str, object]
Work = Callable[["Invocation", Event], Reply]
StoreFactory = Callable[[Deadline], "ObjectStore"]


@dataclass
class Invocation:
    """One handler call: its settings, deadline, clock, credentials and lazily built clients."""

    function_name: str
    request_id: str
    settings: Settings
    deadline: Deadline
    context: FunctionContext | None
    clock: Callable[[], datetime]
    client: httpx.Client
    #: Where state is kept, if not where ``ELBSYNC_STATE_URL`` says (a test's store).
    open_store: StoreFactory | None = None
    _session: ApiSession | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)
    _store: ObjectStore | None = field(default=None, repr=False)

    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.resolve(self.context, self.settings)
        return self._credentials

    def session(self) -> ApiSession:
        if self._session is None:
            self._session = ApiSession(
                auth=self.credentials().api_auth(self.settings.project_id),
                deadline=self.deadline,
                client=self.client,
                policy=RetryPolicy(max_attempts=self.settings.max_attempts),
            )
        return self._session

    def store(self) -> ObjectStore:
        """The state store, bound to this invocation's deadline."""
        if self._store is None and self.open_store is not None:
            self._store = self.open_store(self.deadline)
        if self._store is None:
            from elbsync.state.factory import open_store

            credentials = self.credentials()
            self._store = open_store(
                self.settings,
                deadline=self.deadline,
                client=self.client,
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                security_token=credentials.security_token,
            )
        return self._store

    def elb(self) -> ElbClient:
        from elbsync.clients.elb import ElbClient

        return ElbClient(
            self.session(),
            endpoint=self.settings.endpoint("elb"),
            project_id=self.settings.require_project_id(),
        )

    def autoscaling(self) -> AutoScalingClient:
        from elbsync.clients.autoscaling import AutoScalingClient

        return AutoScalingClient(
            self.session(),
            endpoint=self.settings.endpoint("as"),
            project_id=self.settings.require_project_id(),
        )

    def ecs(self) -> EcsClient:
        from elbsync.clients.ecs import EcsClient

        return EcsClient(
            self.session(),
            endpoint=self.settings.endpoint("ecs"),
            project_id=self.settings.require_project_id(),
        )
