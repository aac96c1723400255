"""Handling each event once on every backend: claims, replays, conflicts and takeovers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from elbsync.state import (
    Claim,
    EventInProgressError,
    Idempotency,
    IdempotencyKeyReusedError,
    ObjectStore,
    Replay,
)

PAYLOAD = {"pool_id": "p-1", "members": [{"address": "10.0.0.5", "protocol_port": 80}]}


@pytest.fixture
def events(store: ObjectStore) -> Idempotency:
    return Idempotency(store)


def later(minutes: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def test_the_first_delivery_claims_the_event(events: Idempotency) -> None:
    started = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=30)

    assert isinstance(started, Claim)
    assert started.generation == 1
    assert (
        timedelta(seconds=25)
        < started.expires_at - datetime.now(timezone.utc)
        <= timedelta(seconds=30)
    )


def test_a_replay_after_completion_gets_the_stored_reply(events: Idempotency) -> None:
    claim = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=30)
    assert isinstance(claim, Claim)
    events.complete(claim, {"added": ["m-1"], "status": 200})

    replay = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD)

    assert isinstance(replay, Replay)
    assert replay.reply == {"added": ["m-1"], "status": 200}


def test_the_payload_hash_ignores_key_order(events: Idempotency) -> None:
    claim = events.begin(
        source="eg", event_id="e-1", payload={"a": 1, "b": [1, 2]}, lease_seconds=30
    )
    assert isinstance(claim, Claim)
    events.complete(claim, {"ok": True})

    replay = events.begin(source="eg", event_id="e-1", payload={"b": [1, 2], "a": 1})

    assert isinstance(replay, Replay)


def test_the_same_id_with_another_payload_is_a_clear_client_error(events: Idempotency) -> None:
    claim = events.begin(source="http", event_id="key-1", payload=PAYLOAD, lease_seconds=30)
    assert isinstance(claim, Claim)
    events.complete(claim, {"ok": True})

    with pytest.raises(IdempotencyKeyReusedError) as caught:
        events.begin(source="http", event_id="key-1", payload={"pool_id": "p-2"})

    assert caught.value.client_error
    assert "key-1" in caught.value.message


def test_another_payload_is_refused_while_the_first_is_still_in_progress(
    events: Idempotency,
) -> None:
    events.begin(source="http", event_id="key-1", payload=PAYLOAD, lease_seconds=30)

    with pytest.raises(IdempotencyKeyReusedError):
        events.begin(source="http", event_id="key-1", payload={"pool_id": "p-2"})


def test_a_second_delivery_during_the_first_is_told_to_retry_later(events: Idempotency) -> None:
    events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=60)

    with pytest.raises(EventInProgressError) as caught:
        events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=60)

    assert 50 < caught.value.retry_after_s <= 60


def test_an_expired_claim_is_taken_over_by_the_next_delivery(store: ObjectStore) -> None:
    Idempotency(store).begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=5)
    after_expiry = Idempotency(store, clock=lambda: later(1))

    taken = after_expiry.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=5)

    assert isinstance(taken, Claim)
    assert taken.generation == 2


def test_a_released_claim_lets_the_next_delivery_retry_at_once(events: Idempotency) -> None:
    first = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=300)
    assert isinstance(first, Claim)
    events.release(first)

    retry = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=300)

    assert isinstance(retry, Claim)
    assert retry.generation == 2


def test_handle_runs_the_work_once_and_replays_its_reply(events: Idempotency) -> None:
    calls: list[int] = []

    def work() -> dict[str, object]:
        calls.append(1)
        return {"call": len(calls)}

    first = events.handle(source="smn", event_id="m", payload=PAYLOAD, work=work, lease_seconds=30)
    second = events.handle(source="smn", event_id="m", payload=PAYLOAD, work=work, lease_seconds=30)

    assert first == second == {"call": 1}
    assert calls == [1]


def test_failed_work_is_released_and_runs_again_on_redelivery(events: Idempotency) -> None:
    attempts: list[int] = []

    def flaky() -> dict[str, object]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("ELB was busy")
        return {"ok": True}

    with pytest.raises(RuntimeError, match="busy"):
        events.handle(source="smn", event_id="m", payload=PAYLOAD, work=flaky, lease_seconds=30)
    reply = events.handle(source="smn", event_id="m", payload=PAYLOAD, work=flaky, lease_seconds=30)

    assert reply == {"ok": True}
    assert len(attempts) == 2


def test_events_from_different_sources_with_the_same_id_are_independent(
    events: Idempotency,
) -> None:
    smn = events.begin(source="smn", event_id="1", payload=PAYLOAD, lease_seconds=30)
    http = events.begin(source="http", event_id="1", payload={"other": True}, lease_seconds=30)

    assert isinstance(smn, Claim)
    assert isinstance(http, Claim)


def test_of_many_concurrent_deliveries_exactly_one_claims_the_event(events: Idempotency) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            started = events.begin(source="smn", event_id="race", payload=PAYLOAD, lease_seconds=60)
            outcome = type(started).__name__
        except EventInProgressError:
            outcome = "in_progress"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["Claim"] + ["in_progress"] * 7


def test_a_claim_in_progress_is_taken_over_at_once_when_the_caller_asks(
    events: Idempotency,
) -> None:
    # The first invocation may have crashed: nothing tells it from a live one.
    first = events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=600)
    assert isinstance(first, Claim)

    taken = events.begin(
        source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=600, take_over=True
    )

    assert isinstance(taken, Claim)
    assert taken.generation == first.generation + 1
    assert events.complete(taken, {"by": "second"}) == {"by": "second"}
    # The first invocation finishing late keeps the first reply stored.
    assert events.complete(first, {"by": "first"}) == {"by": "second"}


def test_taking_over_still_refuses_another_payload(events: Idempotency) -> None:
    events.begin(source="smn", event_id="msg-1", payload=PAYLOAD, lease_seconds=600)

    with pytest.raises(IdempotencyKeyReusedError):
        events.begin(source="smn", event_id="msg-1", payload={"other": 1}, take_over=True)
