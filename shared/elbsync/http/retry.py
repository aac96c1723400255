"""Bounded retries: exponential backoff with full jitter, never past a deadline.

What is worth retrying is the caller's to say, from the typed error (its class, a
``retry_after`` the service advised, whether a write ``may_have_applied``); this module only
decides how long to wait and when to give up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from elbsync.deadline import Deadline

__all__ = ["RetryPolicy", "Sleep", "call_with_retry"]

T = TypeVar("T")
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failed remote call.

    The wait before retry ``n`` (1-based) is uniform in ``[0, min(cap, base * 2**(n-1))]``
    ("full jitter"), so concurrent function instances do not retry in lockstep.
    """

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return ceiling * rng()


def call_with_retry(
    attempt: Callable[[], T],
    *,
    should_retry: Callable[[Exception], bool],
    deadline: Deadline,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    rng: Callable[[], float] = random.random,
    retry_after: Callable[[Exception], float | None] = lambda exc: None,
    on_retry: Callable[[Exception, int, float], None] = lambda exc, n, wait: None,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or time or attempts run out.

    The last error is re-raised when retrying is pointless: a non-retryable error, the attempt
    budget used up, or a wait that would end past the deadline. ``retry_after`` may return a
    server-advised wait (seconds) that replaces the jittered one when it is longer.
    """
    retry_number = 0
    while True:
        try:
            return attempt()
        except Exception as exc:
            retry_number += 1
            if retry_number >= policy.max_attempts or not should_retry(exc):
                raise
            wait = policy.delay(retry_number, rng)
            advised = retry_after(exc)
            if advised is not None and advised > wait:
                wait = min(advised, policy.max_delay)
            if wait >= deadline.remaining():
                raise
            on_retry(exc, retry_number, wait)
            sleep(wait)
