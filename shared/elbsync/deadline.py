"""Deadlines: how long an invocation may still work, minus a safety margin."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from elbsync.errors import DeadlineExceededError

__all__ = ["Clock", "Deadline"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time after which no new remote work may start."""

    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def from_remaining_ms(
        cls, remaining_ms: float, *, margin_ms: float, clock: Clock = time.monotonic
    ) -> Deadline:
        """The function's remaining time (``getRemainingTimeInMilliSeconds``) minus a margin."""
        return cls.after(max(0.0, remaining_ms - margin_ms) / 1000.0, clock=clock)

    def remaining(self) -> float:
        """Seconds left; never negative."""
        return max(0.0, self.expires_at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def check(self, doing: str) -> None:
        """Raise :class:`DeadlineExceededError` if no time is left to start ``doing``."""
        if self.expired():
            raise DeadlineExceededError(f"no time left to {doing}")
