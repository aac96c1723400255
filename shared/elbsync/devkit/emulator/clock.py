"""The emulator's virtual clock: wall time plus an offset that tests can advance.

Everything that waits in the emulated cloud (busy load balancers, check jobs, members becoming
healthy, lifecycle-hook timeouts) is measured on this clock, so a test advances it instead of
sleeping. Signature dates are checked against real time: a client signs with its own clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["ISO_FORMAT", "VirtualClock", "iso"]

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class VirtualClock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, on the virtual timeline."""
        with self._lock:
            return self._wall() + self._offset

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._wall() + self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


def iso(epoch: float) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss'Z'`` (UTC), the format of ELB's ``created_at``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(ISO_FORMAT)
