"""What every handler shares: the composition of one invocation and the one place where errors
become a reply.

- :mod:`.handler`: :func:`run`, the handler's body; correlation ids; error replies.
- :mod:`.wiring`: what invocations of this process are built from, and the hooks the developer
  kit and tests replace it through (:func:`use_settings`, :func:`use_clock`, :func:`use_store`,
  :func:`use_client`).
- :mod:`.invocation`: one handler call, its clients and its store.
- :mod:`.context`, :mod:`.credentials`, :mod:`.logs`: FunctionGraph's context object, where
  credentials come from, structured logging with redaction.
"""

from elbsync.runtime.handler import (
    correlation_id,
    error_reply,
    not_implemented,
    printable_id,
    run,
)
from elbsync.runtime.invocation import Event, Invocation, Reply, Work
from elbsync.runtime.wiring import (
    load_settings,
    now,
    use_client,
    use_clock,
    use_settings,
    use_store,
)

__all__ = [
    "Event",
    "Invocation",
    "Reply",
    "Work",
    "correlation_id",
    "error_reply",
    "load_settings",
    "not_implemented",
    "now",
    "printable_id",
    "run",
    "use_client",
    "use_clock",
    "use_settings",
    "use_store",
]
