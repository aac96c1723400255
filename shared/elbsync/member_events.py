"""member_events: every event of a trigger envelope becomes member changes, exactly once.

Each event is claimed by its id (SMN message id or CloudEvent id) and payload hash before any
change. A delivery that finds the event claimed by an invocation still in progress takes the
claim over: that invocation may have crashed, and the work is idempotent (its records have ids
derived from the event), so a redelivery never waits for a claim to run out and is never
answered with anything that stops the platform delivering before the work is done or recorded.
Its member changes go through the write path; once they are applied its reply is stored, and a
redelivered event changes nothing and gets that reply. An event whose changes are still queued
(another invocation holds the balancer's lease, or ELB was busy or slow) is answered ``queued``:
its work is recorded and the poller finishes it, and a redelivery finds the recorded work and
replies with what became of it. A malformed event is rejected with the path of the bad field;
the others still run. A failure that is not the event's fault releases the claim and fails the
invocation, so the platform delivers the event again.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, cast

import structlog
from pydantic import JsonValue

from elbsync.errors import ConfigError, InputError
from elbsync.inbound.envelopes import LIFECYCLE_EVENT_TYPE, Inbound, Rejected, unwrap
from elbsync.inbound.validation import parse
from elbsync.membership import membership_for
from elbsync.runtime import Event, Invocation, Reply
from elbsync.state.errors import IdempotencyKeyReused
from elbsync.state.idempotency import Idempotency, Replay

if TYPE_CHECKING:
    from elbsync.bindings import BindingDocument

# The scaling and deployment flows (and their models) are imported by the events that need
# them, so a new function instance does not pay for both.

_log = structlog.get_logger("elbsync.member_events")


class MemberEvents:
    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        store = invocation.store()
        self.idempotency = Idempotency(store, clock=invocation.clock)
        self.membership = membership_for(invocation, store)
        self._bindings: BindingDocument | None = None

    def bindings(self, *, required: bool) -> BindingDocument | None:
        if self._bindings is None:
            self._bindings = load_bindings(self.invocation, required=required)
        return self._bindings

    def run(self, items: list[Inbound | Rejected]) -> Reply:
        results = [self.one(item) for item in items]
        statuses = Counter(str(r["status"]) for r in results)
        members: Counter[str] = Counter()
        for result in results:
            detail = result.get("result")
            if isinstance(detail, dict) and isinstance(detail.get("counts"), dict):
                members.update({str(k): int(v) for k, v in detail["counts"].items()})
        _log.info("member_events_summary", events=dict(statuses), members=dict(members))
        ok = statuses["rejected"] == 0 and members["failed"] == 0
        return {
            "ok": ok,
            "events": results,
            "counts": {"events": dict(statuses), "members": dict(members)},
        }

    def one(self, item: Inbound | Rejected) -> dict[str, object]:
        if isinstance(item, Rejected):
            _log.warning("event_rejected", at=item.at, error=item.error.to_dict())
            return {"at": item.at, "status": "rejected", "error": item.error.to_dict()}
        base = {"event_id": item.event_id, "type": item.type}
        try:
            started = self.idempotency.begin(
                source=item.source,
                event_id=item.event_id,
                payload=cast(JsonValue, dict(item.data)),
                take_over=True,
            )
        except IdempotencyKeyReused as exc:
            _log.warning("event_rejected", event_id=item.event_id, error=exc.to_dict())
            return {**base, "status": "rejected", "error": exc.to_dict()}
        if isinstance(started, Replay):
            _log.info("event_replayed", event_id=item.event_id)
            return {**base, **started.reply, "replayed": True}
        try:
            reply = self._work(item, started.key)
        except InputError as exc:
            reply = {"status": "rejected", "error": exc.to_dict()}
        except BaseException:
            self.idempotency.release(started)
            raise
        if reply.get("status") == "queued":
            _log.info("event_queued", event_id=item.event_id)
            self.idempotency.defer(started, cast(dict[str, JsonValue], reply))
            return {**base, **reply}
        stored = self.idempotency.complete(started, cast(dict[str, JsonValue], reply))
        return {**base, **stored}

    def _work(self, item: Inbound, key: str) -> dict[str, object]:
        if item.type == LIFECYCLE_EVENT_TYPE:
            from elbsync.inbound.lifecycle import LifecycleNotification
            from elbsync.scaling import Scaling

            note = parse(LifecycleNotification, item.data, at=item.at)
            document = self.bindings(required=True)
            assert document is not None
            binding = document.for_notification(note)
            scaling = Scaling(self.membership, self.invocation.autoscaling(), self.invocation.ecs())
            done = scaling.handle(note, binding)
            status = "queued" if done.queued else "applied"
            return {"status": status, "binding": binding.name, "result": done.reply()}
        from elbsync.deployment import Deployment, DeploymentEvent
        from elbsync.inbound.deployments import DEPLOYMENT_TYPES
        from elbsync.replies import DryRunResult

        model = DEPLOYMENT_TYPES[item.type][0]
        event = parse(model, item.data, at=item.at)
        assert isinstance(event, DeploymentEvent)
        deployment = Deployment(
            self.membership,
            self.bindings(required=False),
            max_remove_share=self.invocation.settings.max_remove_share,
        )
        result = deployment.handle(event, cause=f"{item.type} {item.event_id}", key=key)
        if isinstance(result, DryRunResult):
            return {"status": "planned", "result": result.reply()}
        return {"status": "queued" if result.queued else "applied", "result": result.reply()}


def load_bindings(invocation: Invocation, *, required: bool) -> BindingDocument | None:
    """The binding document: ``ELBSYNC_BINDINGS``, or the store object ``ELBSYNC_BINDINGS_KEY``."""
    from elbsync.bindings import BindingDocument

    settings = invocation.settings
    if settings.bindings:
        return BindingDocument.from_json(settings.bindings, source="ELBSYNC_BINDINGS")
    if settings.bindings_key:
        stored = invocation.store().get(settings.bindings_key)
        if stored is None:
            raise ConfigError(
                "ELBSYNC_BINDINGS_KEY", f"no object {settings.bindings_key!r} in the state store"
            )
        return BindingDocument.from_json(stored.data.decode("utf-8"), source="ELBSYNC_BINDINGS_KEY")
    if required:
        raise ConfigError(
            "ELBSYNC_BINDINGS", "lifecycle events need bindings (or set ELBSYNC_BINDINGS_KEY)"
        )
    return None


def handle(invocation: Invocation, event: Event) -> Reply:
    """The work of the member_events function."""
    items = unwrap(event)
    return MemberEvents(invocation).run(items)
