"""Fixtures of the state tests (the store backends are in tests/fixtures/objectstore.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.typing import EventDict


@pytest.fixture
def log_lines() -> Iterator[list[EventDict]]:
    """Every line logged during the test, whatever level an earlier test left structlog at."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as lines:
            yield lines
    finally:
        structlog.configure(wrapper_class=wrapper)
