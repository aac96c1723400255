"""member_events: every event of a trigger envelope becomes member changes, exactly once.

Each event is claimed by its identity (an SMN message id; a CloudEvent's source and id) and
payload hash before any change. A lifecycle notification for a hook elbsync does not own is
answered ``ignored`` before that: no claim, no record, no call. A delivery that finds the event
claimed by an invocation still in progress takes the claim over: that invocation may have
crashed, and the work is idempotent (its records have ids derived from the event), so a
redelivery never waits for a claim to run out and is never answered with anything that stops
the platform delivering before the work is done or recorded.
Its member changes go through the write path; once they are applied its reply is stored, and a
redelivered event changes nothing and gets that reply. An event whose changes are still queued
(another invocation holds the balancer's lease, or ELB was busy or slow) is answered ``queued``:
its work is recorded and the poller finishes it, and a redelivery finds the recorded work and
replies with what became of it. A malformed event is rejected with the full path of the bad field
(from the envelope down); the others still run. Every log line of an event's work carries the
event's own id. A failure that is not the event's fault releases the claim and fails the
invocation, so the platform delivers the event again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import structlog
from pydantic import JsonValue

from elbsync.errors import ConfigError, InputError
from elbsync.inbound.envelopes import LIFECYCLE_EVENT_TYPE, Inbound, Rejected, unwrap
from elbsync.inbound.validation import parse
from elbsync.members.membership import membership_for
from elbsync.runtime import Event, Invocation, Reply, printable_id
from elbsync.state.errors import IdempotencyKeyReusedError
from elbsync.state.idempotency import Idempotency, Replay

if TYPE_CHECKING:
    from elbsync.flows.replies import DeploymentResult, ScalingResult
    from elbsync.inbound.bindings import Binding, BindingDocument
    from elbsync.inbound.lifecycle import LifecycleNotification

__all__ = [
    "MAX_MEMBER_WARNINGS",
    "NOTHING_DONE",
    "NOT_OK",
    "MemberEvents",
    "Owner",
    "handle",
    "load_bindings",
]

# The scaling and deployment flows (and their models) are imported by the events that need
# them, so a new function instance does not pay for both.

_log = structlog.get_logger("elbsync.flows.member_events")
#: Event statuses that make the reply's ``ok`` false.
NOT_OK = frozenset({"rejected", "refused"})
NOTHING_DONE = "every change the event asked for was refused, failed or not found"
#: Members logged one by one when an event could not change them; the rest are counted.
MAX_MEMBER_WARNINGS = 20


@dataclass(frozen=True)
class Owner:
    """A lifecycle notification and its owning binding; no binding: ``ignored`` says why."""

    note: LifecycleNotification
    binding: Binding | None
    ignored: str = ""


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
        ok = not (statuses.keys() & NOT_OK) and members["failed"] == 0
        return {
            "ok": ok,
            "events": results,
            "counts": {"events": dict(statuses), "members": dict(members)},
        }

    def one(self, item: Inbound | Rejected) -> dict[str, object]:
        """One event's outcome; every log line of its work carries its own id."""
        correlation = printable_id(item.event_id)
        bound = {"correlation_id": correlation} if correlation else {}
        with structlog.contextvars.bound_contextvars(**bound):
            if isinstance(item, Rejected):
                _log.warning("event_rejected", at=item.at, error=item.error.to_dict())
                return {"at": item.at, "status": "rejected", "error": item.error.to_dict()}
            try:
                return self._claimed(item)
            except InputError as exc:
                return {**_base(item), **_rejected(item, exc)}

    def _claimed(self, item: Inbound) -> dict[str, object]:
        """The event's work under its claim (a notification for a hook elbsync does not own
        is answered ``ignored`` first, without a claim, a record or a call)."""
        base = _base(item)
        owner = self._owner(item)
        if owner is not None and not owner.binding:
            hook = owner.note.lifecycle_hook_name
            _log.info("lifecycle_hook_ignored", hook=hook, reason=owner.ignored)
            return {**base, "status": "ignored", "reason": owner.ignored}
        namespace, event_id = item.identity
        try:
            started = self.idempotency.begin(
                source=namespace,
                event_id=event_id,
                payload=cast(JsonValue, dict(item.data)),
                take_over=True,
            )
        except IdempotencyKeyReusedError as exc:
            _log.warning("event_rejected", at=item.id_field, error=exc.to_dict())
            return {**base, "status": "rejected", "at": item.id_field, "error": exc.to_dict()}
        if isinstance(started, Replay):
            _log.info("event_replayed")
            return {**base, **started.reply, "replayed": True}
        try:
            if owner is not None and owner.binding:
                reply = self._lifecycle(owner.note, owner.binding)
            else:
                reply = self._deployment(item, started.key)
        except InputError as exc:
            reply = _rejected(item, exc)
        except BaseException:
            self.idempotency.release(started)
            raise
        if reply.get("status") == "queued":
            _log.info("event_queued")
            self.idempotency.defer(started, cast(dict[str, JsonValue], reply))
            return {**base, **reply}
        stored = self.idempotency.complete(started, cast(dict[str, JsonValue], reply))
        return {**base, **stored}

    def _owner(self, item: Inbound) -> Owner | None:
        """A lifecycle notification and the binding that owns its hook (or why none does);
        ``None`` for a deployment event."""
        if item.type != LIFECYCLE_EVENT_TYPE:
            return None
        from elbsync.inbound.bindings import NotOurs
        from elbsync.inbound.lifecycle import LifecycleNotification

        note = parse(LifecycleNotification, item.data, at=item.at)
        document = self.bindings(required=True)
        assert document is not None
        owner = document.for_notification(note)
        if isinstance(owner, NotOurs):
            return Owner(note, None, owner.reason)
        return Owner(note, owner)

    def _lifecycle(self, note: LifecycleNotification, binding: Binding) -> dict[str, object]:
        from elbsync.flows.scaling import Scaling

        scaling = Scaling(self.membership, self.invocation.autoscaling(), self.invocation.ecs())
        done = scaling.handle(note, binding)
        _warn_undone(done)
        status = "queued" if done.queued else "applied"
        return {"status": status, "binding": binding.name, "result": done.reply()}

    def _deployment(self, item: Inbound, key: str) -> dict[str, object]:
        from elbsync.flows.deployment import Deployment, DeploymentEvent, outcome
        from elbsync.flows.replies import DryRunResult
        from elbsync.inbound.deployments import DEPLOYMENT_TYPES

        model = DEPLOYMENT_TYPES[item.type][0]
        event = parse(model, item.data, at=item.at)
        assert isinstance(event, DeploymentEvent)
        deployment = Deployment(
            self.membership,
            self.bindings(required=False),
            max_remove_share=self.invocation.settings.max_remove_share,
        )
        result = deployment.handle(event, cause=f"{item.type} {item.event_id}", key=key)
        if not isinstance(result, DryRunResult):
            _warn_undone(result)
        status = outcome(result)
        reason = {"reason": NOTHING_DONE} if status == "refused" else {}
        return {"status": status, **reason, "result": result.reply()}


def _base(item: Inbound) -> dict[str, object]:
    base: dict[str, object] = {"event_id": item.event_id, "type": item.type}
    if item.origin:
        base["source"] = item.origin
    return base


def _rejected(item: Inbound, exc: InputError) -> dict[str, object]:
    """The reply to an event refused after the edge, its field named from the envelope down."""
    error = exc.within(item.at)
    _log.warning("event_rejected", at=item.at, error=error.to_dict())
    return {"status": "rejected", "error": error.to_dict()}


def _warn_undone(result: ScalingResult | DeploymentResult) -> None:
    """A warning per member not changed as asked (the first few; then how many more)."""
    undone = result.undone
    for row in undone[:MAX_MEMBER_WARNINGS]:
        _log.warning(
            f"member_{row.result}",
            pool_id=row.pool_id,
            address=row.address,
            protocol_port=row.protocol_port,
            member_id=row.member_id,
            reason=row.reason,
            error=row.error,
        )
    if len(undone) > MAX_MEMBER_WARNINGS:
        more = len(undone) - MAX_MEMBER_WARNINGS
        _log.warning("members_undone", shown=MAX_MEMBER_WARNINGS, more=more)


def load_bindings(invocation: Invocation, *, required: bool) -> BindingDocument | None:
    """The binding document: ``ELBSYNC_BINDINGS``, or the store object ``ELBSYNC_BINDINGS_KEY``."""
    from elbsync.inbound.bindings import BindingDocument

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
