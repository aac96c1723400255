"""Fault injection and observation: what went wrong on purpose, and what was received.

Rules come from the world file and from ``POST /_emulator/faults``. Each call of an operation is
counted when it arrives (before any fault or authentication), then every active rule for that
operation (or ``*``) is consulted in order: latency rules add up; the first firing
``throttle``/``error``/``drop``/``lose_reply``/``slow_reply`` rule decides the outcome. A rule
fires on a random draw below its ``rate`` (seeded by the world, so runs repeat), after skipping
``after_calls`` matching calls, and stops after ``next_calls`` firings when that is set.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field

from elbsync.devkit.emulator.world import FaultSpec

__all__ = ["LOST_REPLIES", "OPERATIONS", "THROTTLE_CODE", "FaultBook", "FaultRule", "Outcome"]

OPERATIONS = (
    "elb.list_members",
    "elb.batch_add",
    "elb.batch_update",
    "elb.batch_delete",
    "elb.create_check_job",
    "elb.show_check_job",
    "as.callback",
    "as.list_hanging",
    "ecs.list_interfaces",
)
THROTTLE_CODE = "APIG.0308"
#: Fault kinds that let the operation run and then keep its reply from the caller.
LOST_REPLIES = ("lose_reply", "slow_reply")
_LOG_SIZE = 2000


@dataclass
class FaultRule:
    id: int
    spec: FaultSpec
    matched: int = 0
    fired: int = 0

    @property
    def active(self) -> bool:
        return self.spec.next_calls is None or self.fired < self.spec.next_calls

    def view(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "matched": self.matched,
            "fired": self.fired,
            "active": self.active,
        }


@dataclass(frozen=True)
class Outcome:
    """What a call suffers: extra latency, and maybe a reply or a dropped connection instead
    (or, for a lost reply, after the operation ran)."""

    latency_ms: float = 0.0
    reply_delay_ms: float = 0.0
    kind: str | None = None
    status: int = 0
    error_code: str = ""
    retry_after_s: int | None = None
    rule_id: int | None = None


@dataclass
class FaultBook:
    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    log: deque[dict[str, object]] = field(default_factory=lambda: deque(maxlen=_LOG_SIZE))
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random)

    def reset(self, specs: list[FaultSpec], seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)
            self.rules = []
            self.counts = Counter()
            self.log.clear()
            self._next_id = 1
        for spec in specs:
            self.add(spec)

    def add(self, spec: FaultSpec) -> FaultRule:
        with self._lock:
            rule = FaultRule(self._next_id, spec)
            self._next_id += 1
            self.rules.append(rule)
            return rule

    def remove(self, rule_id: int | None = None) -> int:
        """Remove one rule (or all with ``None``); the number removed."""
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if rule_id is not None and r.id != rule_id]
            return before - len(self.rules)

    def clear_counts(self) -> None:
        with self._lock:
            self.counts = Counter()
            self.log.clear()

    def receive(self, operation: str) -> Outcome:
        """Count one call of ``operation`` and decide what it suffers."""
        with self._lock:
            self.counts[operation] += 1
            latency = 0.0
            for rule in self.rules:
                spec = rule.spec
                if spec.operation not in ("*", operation) or not rule.active:
                    continue
                rule.matched += 1
                if rule.matched <= spec.after_calls or self._rng.random() >= spec.rate:
                    continue
                rule.fired += 1
                if spec.kind == "latency":
                    latency += spec.latency_ms
                    continue
                if spec.kind in LOST_REPLIES:
                    return Outcome(
                        latency_ms=latency,
                        kind=spec.kind,
                        reply_delay_ms=spec.latency_ms,
                        rule_id=rule.id,
                    )
                return Outcome(
                    latency_ms=latency,
                    kind=spec.kind,
                    status=429 if spec.kind == "throttle" else spec.status,
                    error_code=spec.error_code or _default_code(spec),
                    retry_after_s=spec.retry_after_s,
                    rule_id=rule.id,
                )
            return Outcome(latency_ms=latency)

    def record(self, entry: dict[str, object]) -> None:
        with self._lock:
            self.log.append(entry)

    def counts_view(self) -> dict[str, int]:
        with self._lock:
            every = {op: 0 for op in OPERATIONS}
            every.update(self.counts)
            return every

    def rules_view(self) -> list[dict[str, object]]:
        with self._lock:
            return [rule.view() for rule in self.rules]

    def log_view(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self.log)


def _default_code(spec: FaultSpec) -> str:
    if spec.kind == "throttle":
        return THROTTLE_CODE
    return "SYS.0500" if spec.status == 500 else "SYS.0503"
