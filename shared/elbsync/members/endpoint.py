"""What names a member in its pool, and what makes it serve: the vocabulary every model of a
member shares (ELB's replies, events, records and replies of elbsync).

ELB holds at most one member per address and port in a pool, so ``(address, port)`` is a
member's identity wherever its id is not known yet. A member serves when ELB reports it
``ONLINE``, or ``NO_MONITOR`` (no health check, so traffic is sent).
"""

from __future__ import annotations

__all__ = ["SERVING", "EndpointKey", "endpoint_key"]

#: ``(address, protocol_port)``; a port ELB did not report counts as 0.
EndpointKey = tuple[str, int]

#: Operating statuses of a member that takes traffic.
SERVING = frozenset({"ONLINE", "NO_MONITOR"})


def endpoint_key(address: str | None, protocol_port: int | None) -> EndpointKey:
    """A member's identity in its pool from its address and port, however a model holds them."""
    return (address or "", protocol_port or 0)
