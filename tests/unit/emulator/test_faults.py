"""The fault book: schedules, rates and counts (no server)."""

from __future__ import annotations

from elbsync.devkit.emulator.faults import FaultBook
from elbsync.devkit.emulator.world import FaultSpec


def _book(*specs: FaultSpec, seed: int = 0) -> FaultBook:
    book = FaultBook()
    book.reset(list(specs), seed)
    return book


def test_latency_rules_add_up_and_the_first_failing_rule_decides() -> None:
    book = _book(
        FaultSpec(operation="*", kind="latency", latency_ms=10),
        FaultSpec(operation="elb.batch_add", kind="latency", latency_ms=5),
        FaultSpec(operation="elb.batch_add", kind="error", status=500),
        FaultSpec(operation="elb.batch_add", kind="throttle"),
    )
    outcome = book.receive("elb.batch_add")
    assert (outcome.latency_ms, outcome.kind, outcome.status) == (15, "error", 500)
    other = book.receive("elb.list_members")
    assert (other.latency_ms, other.kind) == (10, None)


def test_next_calls_limits_how_often_a_rule_fires() -> None:
    book = _book(FaultSpec(operation="as.callback", kind="drop", next_calls=2))
    kinds = [book.receive("as.callback").kind for _ in range(4)]
    assert kinds == ["drop", "drop", None, None]


def test_every_received_call_is_counted() -> None:
    book = _book(FaultSpec(operation="*", kind="throttle"))
    for _ in range(3):
        book.receive("ecs.list_interfaces")
    assert book.counts_view()["ecs.list_interfaces"] == 3
    assert book.counts_view()["elb.batch_delete"] == 0


def test_the_same_seed_gives_the_same_sequence() -> None:
    spec = FaultSpec(operation="*", kind="throttle", rate=0.3)
    book_a, book_b = _book(spec, seed=7), _book(spec, seed=7)
    assert [book_a.receive("x").kind for _ in range(50)] == [
        book_b.receive("x").kind for _ in range(50)
    ]
    other_seed = _book(spec, seed=8)
    assert [book_a.receive("x").kind for _ in range(50)] != [
        other_seed.receive("x").kind for _ in range(50)
    ]
