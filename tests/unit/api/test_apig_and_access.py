"""The APIG envelope, the access rules and the error statuses of http_api, without a network."""

from __future__ import annotations

import base64
import json

import pytest
from elbsync.api.access import Access, ForbiddenError, UnauthorizedError, hash_key, new_key
from elbsync.api.apig import (
    MAX_BODY_BYTES,
    ApigRequest,
    BodyError,
    BodyTooLargeError,
    MethodNotAllowedError,
    NotJsonError,
    RouteNotFoundError,
    parse_body,
)
from elbsync.api.routes import match, status_of
from elbsync.errors import ConfigError, InputError, NotFoundError, ThrottledError
from elbsync.inbound.deployments import Register
from elbsync.settings import Settings
from elbsync.state.errors import EventInProgressError, IdempotencyKeyReusedError

POOL = "e179f773-a6e0-43c0-9514-b7dde2ad0478"


def request(method: str = "GET", path: str = "/v1/health", **event: object) -> ApigRequest:
    return ApigRequest.from_event(
        {"httpMethod": method, "path": path, **event}, request_id="req-1", base_path="/api"
    )


def test_headers_are_read_lower_case_and_query_values_as_strings() -> None:
    got = request(
        headers={"X-Api-Key": "k", "Content-Type": "application/json"},
        queryStringParameters={"kind": ["drain", "check_job"], "limit": "5"},
        requestContext={"requestId": "apig-7"},
    )
    assert got.headers == {"x-api-key": "k", "content-type": "application/json"}
    assert got.query == {"kind": "check_job", "limit": "5"}
    assert got.request_id == "apig-7"


def test_a_base64_body_and_a_plain_body_read_alike() -> None:
    text = json.dumps({"members": [{"address": "10.0.0.1", "protocol_port": 80}]})
    encoded = base64.b64encode(text.encode()).decode()
    plain = request("POST", body=text, headers={"content-type": "application/json"})
    coded = request(
        "POST", body=encoded, isBase64Encoded=True, headers={"content-type": "application/json"}
    )
    said = request(
        "POST", body=encoded, isBase64Encoded="true", headers={"content-type": "application/json"}
    )
    assert plain.json_body() == coded.json_body() == said.json_body() == json.loads(text)


def test_a_body_marked_base64_that_is_not_is_refused_by_field() -> None:
    with pytest.raises(InputError) as caught:
        request("POST", body="%%%", isBase64Encoded=True).json_body()
    assert caught.value.field == "body"


def test_a_body_over_the_limit_is_413_and_a_non_json_body_415() -> None:
    with pytest.raises(BodyTooLargeError):
        request("POST", body="x" * (MAX_BODY_BYTES + 1)).json_body()
    with pytest.raises(NotJsonError):
        request("POST", body="a=1", headers={"content-type": "text/plain"}).json_body()
    vendor = request("POST", body="{}", headers={"content-type": "application/merge+json"})
    assert vendor.json_body() == {}


def test_the_base_path_is_taken_off_before_routing() -> None:
    route, params = match(request(path=f"/api/v1/pools/{POOL}/members"))
    assert (route.name, params) == ("list_members", {"pool_id": POOL})


def test_unknown_routes_are_404_and_wrong_methods_405_with_allow() -> None:
    with pytest.raises(RouteNotFoundError):
        match(request(path="/v1/nothing"))
    with pytest.raises(MethodNotAllowedError) as caught:
        match(request("DELETE", f"/v1/pools/{POOL}/members"))
    assert caught.value.headers == {"Allow": "GET, PUT"}


def test_body_errors_name_every_field_from_body_down() -> None:
    body = {"members": [{"address": "nope", "protocol_port": 0}], "extra": 1}
    with pytest.raises(BodyError) as caught:
        parse_body(Register, body, pool_id=POOL)
    fields = {item["field"] for item in caught.value.to_dict()["fields"]}  # type: ignore[union-attr]
    assert fields == {"body.members[0].address", "body.members[0].protocol_port", "body.extra"}


def test_the_pool_comes_from_the_path_only() -> None:
    with pytest.raises(InputError) as caught:
        parse_body(Register, {"pool_id": POOL, "members": []}, pool_id=POOL)
    assert caught.value.field == "body.pool_id"


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_a_configured_key_is_accepted_by_either_header_and_others_refused() -> None:
    key, entry = new_key()
    other, other_entry = new_key()
    access = Access(settings(api_keys=f"{other_entry}, {entry}", api_pools=POOL))
    access.authenticate({"x-api-key": key})
    access.authenticate({"authorization": f"Bearer {other}"})
    for headers in ({}, {"x-api-key": key + "x"}, {"authorization": f"Basic {key}"}):
        with pytest.raises(UnauthorizedError):
            access.authenticate(headers)
    with pytest.raises(UnauthorizedError):
        access.authenticate({"x-api-key": "k" * 10_000})


def test_keys_are_kept_as_salted_hashes() -> None:
    key, entry = new_key()
    assert key not in entry
    first, second = hash_key(key), hash_key(key)
    assert first.salt != second.salt
    assert first.digest != second.digest


def test_without_keys_the_api_refuses_as_misconfigured_unless_apig_authenticates() -> None:
    with pytest.raises(ConfigError) as caught:
        Access(settings()).authenticate({"x-api-key": "anything"})
    assert caught.value.variable == "ELBSYNC_API_KEYS"
    Access(settings(api_auth="apig")).authenticate({})


def test_the_allow_list_fails_closed() -> None:
    with pytest.raises(ForbiddenError):
        Access(settings()).check_pool(POOL)
    Access(settings(api_pools="*")).check_pool(POOL)
    listed = Access(settings(api_pools=f"a, {POOL}"))
    listed.check_pool(POOL)
    assert not listed.allows_all(set())
    assert listed.allows_all({POOL, "a"})
    assert not listed.allows_all({POOL, "b"})


def test_the_key_settings_are_checked_at_load() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ELBSYNC_API_KEYS": "plain-text-key"})
    assert caught.value.variable == "ELBSYNC_API_KEYS"
    assert "plain-text-key" not in caught.value.message


@pytest.mark.parametrize(
    ("error", "status", "header"),
    [
        (InputError("bad", field="body"), 400, None),
        (UnauthorizedError("no"), 401, "WWW-Authenticate"),
        (ForbiddenError("no"), 403, None),
        (IdempotencyKeyReusedError("k"), 422, None),
        (EventInProgressError("k", retry_after_s=4.2), 409, "Retry-After"),
        (ConfigError("ELBSYNC_API_KEYS", "missing"), 500, None),
        (
            NotFoundError(
                operation="elb.list_members",
                status=404,
                error_code="ELB.404",
                error_msg="x",
                request_id=None,
            ),
            404,
            None,
        ),
        (
            ThrottledError(
                operation="elb.list_members",
                status=429,
                error_code="APIG.0308",
                error_msg="x",
                request_id=None,
                retry_after=7,
            ),
            503,
            "Retry-After",
        ),
    ],
)
def test_errors_map_to_statuses(error: Exception, status: int, header: str | None) -> None:
    got, headers = status_of(error)  # type: ignore[arg-type]
    assert got == status
    if header is not None:
        assert header in headers


def test_a_change_keeps_the_time_the_write_path_reserves_for_its_last_round() -> None:
    from elbsync.api.routes import CHANGE_MARGIN_S
    from elbsync.members.writes import ROUND_RESERVE_S

    assert CHANGE_MARGIN_S == ROUND_RESERVE_S
