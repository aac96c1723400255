from __future__ import annotations

from collections.abc import Iterator

import pytest
from elbsync.devkit.local import Cloud, world_running


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    """The default world, busy window on, reset by each run."""
    with world_running() as running:
        yield running
