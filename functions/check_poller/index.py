"""check_poller: the timer function that finishes everything that waits (check jobs, health
gates, drains, expiry)."""

from __future__ import annotations

from elbsync.runtime import Reply, run
from elbsync.runtime.context import FunctionContext


def handler(event: object, context: FunctionContext) -> Reply:
    # Imported on first use: a new instance starts before it pays for the record models.
    from elbsync.flows.check_poller import handle

    return run("check_poller", event, context, handle)
