"""Authentication is verified as Huawei's API gateway does it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from elbsync.http.auth.sdk_hmac import DATE_FORMAT, AkSkAuth, TokenAuth

from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration


def _signed(
    emulator: EmulatorHandle,
    path: str,
    *,
    method: str = "GET",
    body: dict[str, object] | None = None,
    params: dict[str, str] | None = None,
    date: datetime | None = None,
    auth: AkSkAuth | None = None,
) -> httpx.Request:
    request = httpx.Request(method, emulator.base_url + path, json=body, params=params)
    if date is not None:
        request.headers["X-Sdk-Date"] = date.strftime(DATE_FORMAT)
    signer = auth or AkSkAuth(
        emulator.access_key, emulator.secret_key, project_id=emulator.project_id
    )
    signer.sign(request)
    return request


def _send(request: httpx.Request) -> httpx.Response:
    with httpx.Client(timeout=10.0) as client:
        return client.send(request)


def _list_path(emulator: EmulatorHandle) -> str:
    return emulator.members_path(emulator.pool_id("pool-web"))


def _assert_rejected(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["error_code"] == "APIGW.0301"
    assert reason in body["error_msg"]
    assert len(body["request_id"]) == 32


def test_a_correctly_signed_request_is_served(emulator: EmulatorHandle) -> None:
    response = _send(_signed(emulator, _list_path(emulator)))
    assert response.status_code == 200
    assert len(response.json()["members"]) == 2


def test_a_signature_made_with_the_wrong_secret_key_is_rejected(emulator: EmulatorHandle) -> None:
    wrong = AkSkAuth(emulator.access_key, "not-the-secret", project_id=emulator.project_id)
    _assert_rejected(_send(_signed(emulator, _list_path(emulator), auth=wrong)), "signature")


def test_an_unknown_access_key_is_rejected(emulator: EmulatorHandle) -> None:
    stranger = AkSkAuth("NOSUCHACCESSKEY00000", emulator.secret_key)
    _assert_rejected(_send(_signed(emulator, _list_path(emulator), auth=stranger)), "access key")


def test_a_signed_header_missing_from_the_request_is_rejected(emulator: EmulatorHandle) -> None:
    request = _signed(emulator, _list_path(emulator))
    del request.headers["X-Project-Id"]
    _assert_rejected(_send(request), "'x-project-id' is missing")


def test_a_query_changed_after_signing_is_rejected(emulator: EmulatorHandle) -> None:
    request = _signed(emulator, _list_path(emulator), params={"limit": "1"})
    request.url = request.url.copy_with(params={"limit": "2"})
    _assert_rejected(_send(request), "signature")


def test_a_body_changed_after_signing_is_rejected(emulator: EmulatorHandle) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"), "batch-delete")
    request = _signed(emulator, path, method="POST", body={"members": [{"id": "a"}]})
    tampered = b'{"members": [{"id": "b"}]}'
    request.stream = httpx.ByteStream(tampered)
    request.headers["Content-Length"] = str(len(tampered))
    _assert_rejected(_send(request), "signature")
    assert emulator.calls()["elb.batch_delete"] == 1


def test_a_header_value_changed_after_signing_is_rejected(emulator: EmulatorHandle) -> None:
    request = _signed(emulator, _list_path(emulator))
    request.headers["Host"] = "elb.emu-region-1.myhuaweicloud.com"
    _assert_rejected(_send(request), "signature")


@pytest.mark.parametrize("minutes", [-16, 16], ids=["16 minutes old", "16 minutes ahead"])
def test_a_date_more_than_fifteen_minutes_off_is_rejected(
    emulator: EmulatorHandle, minutes: int
) -> None:
    date = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    _assert_rejected(_send(_signed(emulator, _list_path(emulator), date=date)), "15 minutes")


@pytest.mark.parametrize("minutes", [-14, 14], ids=["14 minutes old", "14 minutes ahead"])
def test_a_date_within_fifteen_minutes_is_accepted(emulator: EmulatorHandle, minutes: int) -> None:
    date = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    assert _send(_signed(emulator, _list_path(emulator), date=date)).status_code == 200


def test_the_date_is_checked_against_real_time_not_the_virtual_clock(
    emulator: EmulatorHandle,
) -> None:
    emulator.advance(7200)
    assert _send(_signed(emulator, _list_path(emulator))).status_code == 200


def test_only_the_headers_listed_in_signed_headers_are_covered(emulator: EmulatorHandle) -> None:
    request = _signed(emulator, _list_path(emulator))
    request.headers["X-Unsigned-Extra"] = "added after signing"
    assert _send(request).status_code == 200


def test_a_signature_over_a_minimal_header_set_is_accepted(emulator: EmulatorHandle) -> None:
    request = httpx.Request("GET", emulator.base_url + _list_path(emulator))
    request.headers["X-Sdk-Date"] = datetime.now(timezone.utc).strftime(DATE_FORMAT)
    request.headers["Host"] = request.url.netloc.decode()
    AkSkAuth(emulator.access_key, emulator.secret_key).sign(request)
    # Only Host and X-Sdk-Date are on the request, so only they are signed.
    assert "SignedHeaders=host;x-sdk-date," in request.headers["Authorization"]
    assert _send(request).status_code == 200


def test_an_iam_token_of_the_world_is_accepted(emulator: EmulatorHandle) -> None:
    response = emulator.token_client().get(_list_path(emulator))
    assert response.status_code == 200


def test_an_unknown_iam_token_is_rejected(emulator: EmulatorHandle) -> None:
    response = emulator.client(TokenAuth("MIIforged")).get(_list_path(emulator))
    _assert_rejected(response, "token")


def test_a_request_without_credentials_is_rejected(emulator: EmulatorHandle) -> None:
    response = httpx.get(emulator.base_url + _list_path(emulator), timeout=10.0)
    _assert_rejected(response, "no Authorization")


def test_a_credential_of_another_project_cannot_address_this_project(
    emulator: EmulatorHandle,
) -> None:
    other = emulator.world.credentials[2]
    auth = AkSkAuth(other.access_key, other.secret_key)
    _assert_rejected(emulator.client(auth).get(_list_path(emulator)), "project in the path")


def test_an_x_project_id_other_than_the_credentials_is_rejected(emulator: EmulatorHandle) -> None:
    other_project = emulator.world.credentials[2].project_id
    auth = AkSkAuth(emulator.access_key, emulator.secret_key, project_id=other_project)
    _assert_rejected(emulator.client(auth).get(_list_path(emulator)), "X-Project-Id")


def test_a_token_of_another_project_cannot_address_this_project(emulator: EmulatorHandle) -> None:
    auth = TokenAuth(emulator.world.iam_tokens[1].token)
    _assert_rejected(emulator.client(auth).get(_list_path(emulator)), "project")


def test_temporary_credentials_need_their_security_token(emulator: EmulatorHandle) -> None:
    temporary = emulator.world.credentials[1]
    assert temporary.security_token is not None
    without = AkSkAuth(temporary.access_key, temporary.secret_key)
    _assert_rejected(emulator.client(without).get(_list_path(emulator)), "security token")
    wrong = AkSkAuth(temporary.access_key, temporary.secret_key, security_token="stale")
    _assert_rejected(emulator.client(wrong).get(_list_path(emulator)), "security token")
    right = AkSkAuth(
        temporary.access_key, temporary.secret_key, security_token=temporary.security_token
    )
    assert emulator.client(right).get(_list_path(emulator)).status_code == 200


def test_a_declared_payload_hash_must_match_the_body(emulator: EmulatorHandle) -> None:
    path = emulator.members_path(emulator.pool_id("pool-web"), "batch-delete")
    request = httpx.Request("POST", emulator.base_url + path, json={"members": [{"id": "x"}]})
    request.headers["X-Sdk-Content-Sha256"] = "0" * 64
    AkSkAuth(emulator.access_key, emulator.secret_key).sign(request)
    _assert_rejected(_send(request), "does not match the body")


def test_an_unsigned_payload_is_accepted_when_declared(emulator: EmulatorHandle) -> None:
    request = httpx.Request("GET", emulator.base_url + _list_path(emulator))
    request.headers["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD"
    AkSkAuth(emulator.access_key, emulator.secret_key).sign(request)
    assert _send(request).status_code == 200


def test_the_admin_api_needs_no_credentials(emulator: EmulatorHandle) -> None:
    response = httpx.get(emulator.base_url + "/_emulator/health", timeout=10.0)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
