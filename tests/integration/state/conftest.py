"""Fixtures of the state tests, shared with the unit tests of tests/unit/state/."""

from tests.unit.state.conftest import log_lines

__all__ = ["log_lines"]
