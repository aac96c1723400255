"""Ids from events reach URL paths only if they cannot steer the request elsewhere."""

from __future__ import annotations

import pytest
from elbsync.errors import PathIdError
from elbsync.http.session import path_id


@pytest.mark.parametrize(
    "value",
    ["../lbs", "a/b", "..", "", "a b", "a\x00b", "a?b=c", "a#b", "%2e%2e", "x" * 129, "é"],
)
def test_an_id_that_could_steer_a_request_never_reaches_a_url(value: str) -> None:
    with pytest.raises(PathIdError) as caught:
        path_id(value, "pool_id")
    assert caught.value.field == "pool_id"


def test_plain_ids_pass_as_they_are() -> None:
    for value in ("0c28cec1-b947-42af-a4b9-36976b4b76b0", "pool_web.1", "A-b_9"):
        assert path_id(value, "pool_id") == value
