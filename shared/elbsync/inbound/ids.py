"""Cloud resource ids as events and bindings may name them.

Pools, load balancers, subnets and listeners end up in URL paths and state keys, so an id is
nothing but letters, digits, ``-`` and ``_``. Its own module, so the lifecycle path (bindings)
does not load the deployment event models to check one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["RESOURCE_ID", "ResourceId"]

RESOURCE_ID = r"^[A-Za-z0-9_-]+$"
ResourceId = Annotated[str, Field(min_length=1, max_length=64, pattern=RESOURCE_ID)]
