"""member_events: Auto Scaling lifecycle notifications (SMN) and deployment events (EventGrid)
become ELB member changes."""

from __future__ import annotations

from elbsync.context import FunctionContext
from elbsync.member_events import handle
from elbsync.runtime import Event, Reply, run


def handler(event: Event, context: FunctionContext) -> Reply:
    return run("member_events", event, context, handle, raise_to_retry=True)
