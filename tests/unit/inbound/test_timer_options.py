"""TIMER options: valid ones apply, anything else is a warning and the tick still runs."""

from __future__ import annotations

import json

import pytest
from elbsync.errors import InputError
from elbsync.inbound.timer import timer_options

from tests.events import load_event


def test_the_plain_timer_sample_sets_nothing_and_warns_of_nothing() -> None:
    options = timer_options(load_event("check_poller/timer"))

    assert (options.expire, options.warnings) == (False, [])


def test_the_expire_sample_asks_for_expiry() -> None:
    options = timer_options(load_event("check_poller/timer_expire"))

    assert (options.expire, options.warnings) == (True, [])


def test_an_unknown_option_is_a_warning_and_the_known_ones_still_apply() -> None:
    options = timer_options(load_event("check_poller/timer_typo_option"))

    assert options.expire is True
    (warning,) = options.warnings
    assert warning["field"] == "user_event.expiry"
    assert "is not an option (known: expire)" in str(warning["message"])


def test_text_that_is_not_json_is_a_warning_naming_the_field() -> None:
    options = timer_options(load_event("check_poller/timer_not_json"))

    assert options.expire is False
    (warning,) = options.warnings
    assert warning["field"] == "user_event"
    assert warning["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("user_event", "field", "wording"),
    [
        ("[true]", "user_event", "is not a JSON object of options"),
        ('"expire"', "user_event", "is not a JSON object of options"),
        ('{"expire": "yes"}', "user_event.expire", "is not a boolean"),
        ('{"expire": 1}', "user_event.expire", "is not a boolean"),
        ('{"expire": true', "user_event", ""),
        (42, "user_event", "is not JSON text"),
        ({"expire": True}, "user_event", "is not JSON text"),
    ],
)
def test_each_kind_of_bad_configuration_is_one_warning_and_no_option(
    user_event: object, field: str, wording: str
) -> None:
    options = timer_options({"trigger_type": "TIMER", "user_event": user_event})

    assert options.expire is False
    (warning,) = options.warnings
    assert warning["field"] == field
    assert wording in str(warning["message"])


@pytest.mark.parametrize("user_event", [None, "", "   "])
def test_an_empty_user_event_is_no_configuration(user_event: object) -> None:
    assert timer_options({"user_event": user_event}).warnings == []


def test_a_huge_unknown_option_is_quoted_as_an_excerpt() -> None:
    options = timer_options({"user_event": json.dumps({"x" * 10_000: "y" * 100_000})})

    assert len(json.dumps(options.warnings)) < 1_000


def test_an_event_that_is_not_an_object_is_still_refused() -> None:
    with pytest.raises(InputError):
        timer_options(["user_event"])
