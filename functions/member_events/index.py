"""member_events: Auto Scaling lifecycle notifications (SMN) and deployment events (EventGrid)
become ELB member changes."""

from __future__ import annotations

from elbsync.context import FunctionContext
from elbsync.runtime import Reply, run


def handler(event: object, context: FunctionContext) -> Reply:
    # Imported on first use: a new instance starts before it pays for the event models.
    from elbsync.member_events import handle

    return run("member_events", event, context, handle, raise_to_retry=True)
