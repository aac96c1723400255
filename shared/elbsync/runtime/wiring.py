"""What the invocations of one function instance are built from, and the one place that builds
them (:meth:`Wiring.invocation`, the composition root).

FunctionGraph keeps an instance warm between invocations, so a few things are made once per
process: the settings (read from the environment on first use) and the HTTP client (its
connection pool and TLS context). Everything else is made per invocation. The developer kit and
tests replace parts through :func:`use_settings`, :func:`use_clock`, :func:`use_store` and
:func:`use_client`; each takes ``None`` to go back to the default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import httpx

from elbsync.deadline import Deadline
from elbsync.http.session import new_client
from elbsync.runtime.context import FunctionContext
from elbsync.runtime.invocation import Invocation, StoreFactory
from elbsync.settings import Settings

if TYPE_CHECKING:
    from elbsync.state.store import ObjectStore

__all__ = [
    "WIRING",
    "Clock",
    "StoreFactory",
    "Wiring",
    "load_settings",
    "now",
    "use_client",
    "use_clock",
    "use_settings",
    "use_store",
]

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Wiring:
    """The parts every invocation of this process shares, and what replaces them locally."""

    settings: Settings | None = None
    clock: Clock = wall_clock
    store: StoreFactory | None = None
    client: httpx.Client | None = None
    _from_env: Settings | None = field(default=None, repr=False)
    _own_client: httpx.Client | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _warm: bool = field(default=False, repr=False)

    def load_settings(self) -> Settings:
        """The injected settings, else the environment's, read once per process."""
        if self.settings is not None:
            return self.settings
        with self._lock:
            if self._from_env is None:
                self._from_env = Settings.from_env()
            return self._from_env

    def http_client(self, settings: Settings) -> httpx.Client:
        """The injected client, else this process's own, made on first use and kept."""
        if self.client is not None:
            return self.client
        with self._lock:
            if self._own_client is None or self._own_client.is_closed:
                self._own_client = new_client(timeout=settings.http_timeout)
            return self._own_client

    def cold_start(self) -> bool:
        """True for the first invocation of this process only."""
        with self._lock:
            cold, self._warm = not self._warm, True
            return cold

    def invocation(
        self, function_name: str, context: FunctionContext, settings: Settings
    ) -> Invocation:
        """One handler call, composed: its settings, deadline, clock, HTTP client and store."""
        store = self.store
        return Invocation(
            function_name=function_name,
            request_id=context.getRequestID(),
            settings=settings,
            deadline=Deadline.from_remaining_ms(
                context.getRemainingTimeInMilliSeconds(), margin_ms=settings.deadline_margin_ms
            ),
            context=context,
            clock=self.clock,
            client=self.http_client(settings),
            open_store=store,
        )


#: This process's wiring: warm invocations share it.
WIRING = Wiring()


def now() -> datetime:
    """The time invocations of this process work with (see :func:`use_clock`)."""
    return WIRING.clock()


def load_settings() -> Settings:
    """Settings of this function instance (see :func:`use_settings`)."""
    return WIRING.load_settings()


def use_settings(settings: Settings | None) -> None:
    """Run the functions in this process with ``settings`` instead of the environment's
    (the local developer kit embeds them this way); ``None`` goes back to the environment,
    read again on the next invocation."""
    with WIRING._lock:
        WIRING.settings = settings
        WIRING._from_env = None


def use_clock(clock: Clock | None) -> None:
    """Let invocations in this process run on another clock, e.g. the emulator's virtual one."""
    WIRING.clock = clock or wall_clock


def use_store(factory: Callable[[Deadline], ObjectStore] | None) -> None:
    """Let invocations in this process keep their state in the store ``factory`` returns for
    their deadline (a test's counting or faulty store, say) instead of ``ELBSYNC_STATE_URL``;
    ``None`` goes back to the setting."""
    WIRING.store = factory


def use_client(client: httpx.Client | None) -> None:
    """Send every remote call of this process through ``client`` (a test's transport, say);
    ``None`` goes back to the process's own client."""
    WIRING.client = client
