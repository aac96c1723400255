"""member_events: Auto Scaling lifecycle notifications (SMN) and deployment events (EventGrid)
become ELB member changes."""

from __future__ import annotations

from elbsync.runtime import Reply, run
from elbsync.runtime.context import FunctionContext


def handler(event: object, context: FunctionContext) -> Reply:
    # Imported on first use: a new instance starts before it pays for the event models.
    from elbsync.flows.member_events import handle

    return run("member_events", event, context, handle, raise_to_retry=True)
