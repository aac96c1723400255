"""check_poller: the timer function that finishes everything that waits (check jobs, health
gates, drains, expiry)."""

from __future__ import annotations

from elbsync.context import FunctionContext
from elbsync.runtime import Reply, run


def handler(event: object, context: FunctionContext) -> Reply:
    # Imported on first use: a new instance starts before it pays for the record models.
    from elbsync.poller import handle

    return run("check_poller", event, context, handle)
