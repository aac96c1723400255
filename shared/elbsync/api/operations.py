"""Change requests, each handled once per ``Idempotency-Key``, and answered in time.

A change request (add, remove, re-weight, desired members, start a check job) is claimed in
the store under its ``Idempotency-Key`` header, or a fresh id without one, exactly as
member_events claims an event (:mod:`elbsync.state.idempotency`). The same key and body get the
first final reply back; the same key with another body is refused (422). The request itself is
kept beside the claim, so its operation can be polled by id.

The change goes through the same deployment flow as an EventGrid event: the planner, the one
write path and its records. The write path sends it while the request's synchronous budget
(``ELBSYNC_API_SYNC_SECONDS``) lasts; what is not applied by then stays queued and is answered
``202 Accepted`` with the operation's ``Location``. Polling the operation (or sending the request
again with its key) resumes it like a redelivered event: it finds the queued work, sends what it
may, and answers the outcome; the poller finishes the queue meanwhile anyway.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import cast

from pydantic import JsonValue

from elbsync.api.apig import Answer, HttpProblem
from elbsync.api.models import ChangeReply
from elbsync.deadline import Deadline
from elbsync.errors import InputError
from elbsync.runtime import Invocation, printable_id
from elbsync.state import layout
from elbsync.state.errors import EventInProgressError, KeyExistsError
from elbsync.state.idempotency import Idempotency, Replay, idempotency_key

__all__ = [
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "POLL_AFTER_S",
    "OperationNotFoundError",
    "Operations",
    "Work",
    "queued",
]

MAX_IDEMPOTENCY_KEY_CHARS = 128
_OPERATION_ID = re.compile(r"^[0-9a-f]{64}$")
#: Seconds a client is told to wait before polling a queued operation again.
POLL_AFTER_S = 2


class OperationNotFoundError(HttpProblem):
    code = "operation_not_found"
    status = 404


Work = Callable[[str], Answer]


class Operations:
    """Change requests of one invocation, claimed and stored through the state store."""

    def __init__(self, invocation: Invocation, *, headers: Mapping[str, str]) -> None:
        self.invocation = invocation
        self.store = invocation.store()
        self.idempotency = Idempotency(self.store, clock=invocation.clock)
        self.headers = headers
        settings = invocation.settings
        budget = Deadline.after(settings.api_sync_seconds)
        self.budget = min(budget, invocation.deadline, key=lambda d: d.expires_at)

    def _event_id(self) -> str:
        given = self.headers.get("idempotency-key")
        if given is None:
            return uuid.uuid4().hex
        usable = printable_id(given)
        if usable is None or usable != given or len(given) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InputError(
                f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters",
                field="headers.idempotency-key",
            )
        return given

    def run(self, route: str, pool_id: str, body: object, work: Work) -> Answer:
        """``work(operation_id)`` once per key and body; its answer stored unless it is 202."""
        return self._run(self._event_id(), route, pool_id, body, work)

    def _run(self, event_id: str, route: str, pool_id: str, body: object, work: Work) -> Answer:
        source = f"http {pool_id}"
        payload = cast(JsonValue, {"route": route, "body": body})
        started = self.idempotency.begin(source=source, event_id=event_id, payload=payload)
        if isinstance(started, Replay):
            answer = Answer.stored(started.reply)
            return Answer(
                answer.status, answer.body, {**answer.headers, "Idempotent-Replayed": "true"}
            )
        try:
            self._keep_request(started.key, source, event_id, route, pool_id, body)
            answer = work(started.key)
        except BaseException:
            self.idempotency.release(started)
            raise
        if answer.status == 202:
            self.idempotency.defer(started, answer.dump())
            return answer
        return Answer.stored(self.idempotency.complete(started, answer.dump()))

    def _keep_request(
        self, key: str, source: str, event_id: str, route: str, pool_id: str, body: object
    ) -> None:
        record = {
            "source": source,
            "event_id": event_id,
            "route": route,
            "pool_id": pool_id,
            "body": body,
        }
        data = json.dumps(record, sort_keys=True, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
        with contextlib.suppress(KeyExistsError):
            self.store.create(layout.request_key(key), data)

    def resume(
        self, pool_id: str, operation_id: str, works: Mapping[str, Callable[[object], Work]]
    ) -> Answer:
        """The operation's answer: its stored reply, or the outcome of running it again."""
        found = None
        if _OPERATION_ID.match(operation_id):
            found = self.store.get(layout.request_key(operation_id))
        if found is None:
            raise OperationNotFoundError("no such operation in this pool (or it has expired)")
        request = json.loads(found.data)
        route = request.get("route")
        if request.get("pool_id") != pool_id or route not in works:
            raise OperationNotFoundError("no such operation in this pool (or it has expired)")
        if idempotency_key(request["source"], request["event_id"]) != operation_id:
            raise OperationNotFoundError("no such operation in this pool (or it has expired)")
        body = request.get("body")
        try:
            return self._run(request["event_id"], route, pool_id, body, works[route](body))
        except EventInProgressError:
            still = ChangeReply(
                ok=True, operation_id=operation_id, status="queued", pool_id=pool_id
            )
            return queued(still, pool_id, operation_id)


def queued(reply: ChangeReply, pool_id: str, operation_id: str) -> Answer:
    """202: the change waits in the write queue; poll its operation."""
    location = f"/v1/pools/{pool_id}/operations/{operation_id}"
    return Answer(
        202,
        reply.body(),
        {"Location": location, "Retry-After": str(POLL_AFTER_S)},
    )
