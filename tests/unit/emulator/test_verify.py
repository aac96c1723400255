"""The signature verifier, driven with pinned dates and requests signed by the project's signer."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from elbsync.devkit.emulator.replies import EmulatedApiError
from elbsync.devkit.emulator.verify import SignedRequest, authenticate, project_mismatch
from elbsync.devkit.emulator.world import Credential
from elbsync.http.auth.sdk_hmac import AkSkAuth, signature, string_to_sign

CREDENTIAL = Credential(access_key="AK1", secret_key="SK1", project_id="p1")
SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _signed(query: dict[str, str] | None = None) -> SignedRequest:
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:9/v3/p1/elb/pools/a%20b/members/batch-add",
        params=query,
        json={"members": []},
    )
    request.headers["X-Sdk-Date"] = SIGNED_AT.strftime("%Y%m%dT%H%M%SZ")
    AkSkAuth("AK1", "SK1", project_id="p1").sign(request)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), []).append(value)
    raw = request.url.raw_path.decode()
    path, _, query_text = raw.partition("?")
    pairs = [tuple(p.split("=", 1)) for p in query_text.split("&")] if query_text else []
    return SignedRequest(
        method="POST",
        raw_path=path,
        query=[(k, v) for k, v in pairs],
        headers=headers,
        body=request.read(),
    )


def _check(request: SignedRequest, now: datetime) -> str:
    return authenticate(request, credentials=[CREDENTIAL], tokens={}, now=now).project_id


def test_a_request_signed_by_the_project_signer_verifies() -> None:
    assert _check(_signed({"b": "2", "a": "1"}), SIGNED_AT) == "p1"


@pytest.mark.parametrize("seconds", [900, -900], ids=["15 minutes later", "15 minutes earlier"])
def test_exactly_fifteen_minutes_of_skew_is_accepted(seconds: int) -> None:
    assert _check(_signed(), SIGNED_AT + timedelta(seconds=seconds)) == "p1"


@pytest.mark.parametrize("seconds", [901, -901], ids=["one second too late", "one second early"])
def test_one_second_more_than_fifteen_minutes_is_rejected(seconds: int) -> None:
    with pytest.raises(EmulatedApiError, match="15 minutes"):
        _check(_signed(), SIGNED_AT + timedelta(seconds=seconds))


def test_an_unsigned_date_header_is_rejected() -> None:
    request = _signed()
    authorization = request.headers["authorization"][0]
    signed_list = authorization.split("SignedHeaders=")[1].split(",")[0]
    without_date = signed_list.replace(";x-sdk-date", "")
    headers = {
        **request.headers,
        "authorization": [authorization.replace(signed_list, without_date)],
    }
    forged = SignedRequest(request.method, request.raw_path, request.query, headers, request.body)
    with pytest.raises(EmulatedApiError):
        _check(forged, SIGNED_AT)


def test_no_secret_appears_in_an_authentication_failure() -> None:
    wrong = Credential(access_key="AK1", secret_key="OTHER-SECRET", project_id="p1")
    with pytest.raises(EmulatedApiError) as caught:
        authenticate(_signed(), credentials=[wrong], tokens={}, now=SIGNED_AT)
    assert "OTHER-SECRET" not in caught.value.message
    assert "SK1" not in caught.value.message


def test_the_project_in_path_and_header_must_be_the_credentials() -> None:
    principal = authenticate(_signed(), credentials=[CREDENTIAL], tokens={}, now=SIGNED_AT)
    assert project_mismatch(principal, "p1", "p1") is None
    assert project_mismatch(principal, None, None) is None
    assert project_mismatch(principal, "p2", None) is not None
    assert project_mismatch(principal, "p1", "p2") is not None


def _sdk_style(query: list[tuple[str, str]], wire_query: str) -> SignedRequest:
    """Signed the way Huawei's Python SDK does for repeated numeric values: in wire order."""
    headers = {
        "host": "127.0.0.1:9",
        "x-sdk-date": SIGNED_AT.strftime("%Y%m%dT%H%M%SZ"),
        "x-project-id": "p1",
    }
    signed = sorted(headers)
    canonical = "\n".join(
        [
            "GET",
            "/v3/p1/elb/pools/p/members/",
            wire_query,
            "".join(f"{name}:{headers[name]}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    sig = signature("SK1", string_to_sign(headers["x-sdk-date"], canonical))
    authorization = f"SDK-HMAC-SHA256 Access=AK1, SignedHeaders={';'.join(signed)}, Signature={sig}"
    all_headers = {name: [value] for name, value in headers.items()}
    all_headers["authorization"] = [authorization]
    return SignedRequest("GET", "/v3/p1/elb/pools/p/members", query, all_headers, b"")


def test_repeated_values_signed_in_the_order_they_were_sent_are_accepted() -> None:
    query = [("protocol_port", "80"), ("protocol_port", "443")]
    request = _sdk_style(query, "protocol_port=80&protocol_port=443")
    assert _check(request, SIGNED_AT) == "p1"


def test_repeated_values_signed_in_neither_order_are_rejected() -> None:
    query = [("protocol_port", "80"), ("protocol_port", "443")]
    request = _sdk_style(query, "protocol_port=80&protocol_port=444")
    with pytest.raises(EmulatedApiError, match="signature"):
        _check(request, SIGNED_AT)
