"""Every file in events/ is a JSON object and every member_events sample is used by a test."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.events import EVENTS, event_names, load_event

TESTS = Path(__file__).resolve().parents[2]


@functools.cache
def _test_sources() -> str:
    here = Path(__file__).resolve()
    return "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(TESTS.rglob("*.py")) if path != here
    )


def test_the_events_folder_holds_member_events_samples() -> None:
    assert len(event_names("member_events/")) >= 20


@pytest.mark.parametrize("name", event_names())
def test_every_sample_event_is_a_json_object(name: str) -> None:
    assert isinstance(load_event(name), dict)


def test_every_file_in_events_is_a_json_sample_or_a_readme() -> None:
    strays = [
        path.relative_to(EVENTS).as_posix()
        for path in EVENTS.rglob("*")
        if path.is_file() and path.suffix != ".json" and path.name != "README.md"
    ]

    assert strays == []


@pytest.mark.parametrize("name", event_names("member_events/"))
def test_every_member_events_sample_is_named_by_a_test(name: str) -> None:
    assert f'"{name}"' in _test_sources(), f"no test loads {name} by name"


def test_every_member_events_sample_is_described_in_the_readme() -> None:
    readme = (EVENTS / "member_events" / "README.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in event_names("member_events/")
        if f"`{name.split('/')[1]}.json`" not in readme
    ]

    assert missing == []
