"""member_events: Auto Scaling lifecycle notifications (SMN) and deployment events (EventGrid)
become ELB member changes."""

from __future__ import annotations

from elbsync.context import FunctionContext
from elbsync.runtime import Event, Reply, not_implemented, run


def handler(event: Event, context: FunctionContext) -> Reply:
    return run("member_events", event, context, not_implemented)
