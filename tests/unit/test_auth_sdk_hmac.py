"""Known-answer tests for the SDK-HMAC-SHA256 signer (``elbsync.http.auth.sdk_hmac``).

Every pinned ``Authorization`` value below was cross-checked on 2026-11-23 against
huaweicloudsdkcore 3.1.219 (``huaweicloudsdkcore.signer.signer.Signer``): given the same method,
host, path, query, headers (Host and Content-Length included) and body, the SDK produced exactly
these values. The canonical requests were written out by hand from the algorithm in PLATFORM.md
("Signing Huawei API requests") and each one hashes to the pinned signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from elbsync.http.auth import sdk_hmac
from elbsync.http.auth.sdk_hmac import (
    AkSkAuth,
    TokenAuth,
    authorization_header,
    canonical_query,
    canonical_uri,
    parse_authorization,
)

AK = "HPUAEXAMPLEAK0000001"
SK = "exampleSecretKey0000000000000000000000SK"
DATE = "20240601T083000Z"
HOST = "elb.ap-southeast-1.myhuaweicloud.com"
BASE = f"https://{HOST}"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
JSON_BODY = b'{"members":[{"address":"10.0.0.1","protocol_port":80,"weight":1}]}'


@dataclass(frozen=True)
class KnownAnswer:
    id: str
    method: str
    url: str
    canonical: str
    authorization: str
    params: tuple[tuple[str, str], ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    auth_kwargs: dict[str, str] = field(default_factory=dict)

    def request(self) -> httpx.Request:
        headers = {"X-Sdk-Date": DATE, **self.headers}
        return httpx.Request(
            self.method, self.url, params=self.params, headers=headers, content=self.content
        )

    def auth(self) -> AkSkAuth:
        return AkSkAuth(AK, SK, **self.auth_kwargs)


def _auth(signed: str, sig: str) -> str:
    return f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={signed}, Signature={sig}"


KNOWN_ANSWERS = [
    KnownAnswer(
        id="get-without-query",
        method="GET",
        url=f"{BASE}/v3/0123456789abcdef/elb/pools",
        canonical=(
            "GET\n"
            "/v3/0123456789abcdef/elb/pools/\n"
            "\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-sdk-date", "11578eadd5754cd43de081e1559feb91bd867dcf4f0f04f626d6a8ecc56bb0ea"
        ),
    ),
    KnownAnswer(
        id="path-with-a-space",
        method="GET",
        url=f"{BASE}/v3/p/elb/pools/a b/members",
        canonical=(
            "GET\n"
            "/v3/p/elb/pools/a%20b/members/\n"
            "\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-sdk-date", "78c46bf796eb6d73e27538bbc19dc2b3b06e993fed86911ddc6ec7cd06528fa1"
        ),
    ),
    KnownAnswer(
        id="path-with-unicode",
        method="GET",
        url=f"{BASE}/v3/p/elb/pools/über-中/members",
        canonical=(
            "GET\n"
            "/v3/p/elb/pools/%C3%BCber-%E4%B8%AD/members/\n"
            "\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-sdk-date", "88492c1b15e79560938bdcf523a5805e8922384d563cba711b4a4703d09c00d3"
        ),
    ),
    KnownAnswer(
        id="repeated-and-unordered-query-keys",
        method="GET",
        url=f"{BASE}/v3/p/elb/pools/pool-1/members?address=10.0.0.2&address=10.0.0.1&limit=2&marker=x",
        canonical=(
            "GET\n"
            "/v3/p/elb/pools/pool-1/members/\n"
            "address=10.0.0.1&address=10.0.0.2&limit=2&marker=x\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-sdk-date", "ea6a61e5edf8deef5c9255073fd14dba13906095d4298959607af264e7584b67"
        ),
    ),
    KnownAnswer(
        id="query-values-needing-encoding",
        method="GET",
        url=f"{BASE}/v3/p/elb/members",
        params=(
            ("name", "web 01"),
            ("path", "/a/b"),
            ("time", "08:30"),
            ("tag", "a~b"),
            ("city", "München-中"),
        ),
        canonical=(
            "GET\n"
            "/v3/p/elb/members/\n"
            "city=M%C3%BCnchen-%E4%B8%AD&name=web%2001&path=%2Fa%2Fb&tag=a~b&time=08%3A30\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-sdk-date", "d7190d69a0e2b64dcfa7f74533af71a6185fc13d6f47ec93eeaf5b2ca97f5ee6"
        ),
    ),
    KnownAnswer(
        id="post-with-an-empty-body",
        method="POST",
        url=f"{BASE}/v3/p/elb/pools/pool-1/members/batch-delete",
        content=b"",
        canonical=(
            "POST\n"
            "/v3/p/elb/pools/pool-1/members/batch-delete/\n"
            "\n"
            "content-length:0\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "content-length;host;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "content-length;host;x-sdk-date",
            "e95658d77850fed4d4f86ab53090e864fb499ebec443350d7747f0e01571bb7e",
        ),
    ),
    KnownAnswer(
        id="post-with-a-json-body",
        method="POST",
        url=f"{BASE}/v3/p/elb/pools/pool-1/members/batch-add",
        headers={"Content-Type": "application/json"},
        content=JSON_BODY,
        canonical=(
            "POST\n"
            "/v3/p/elb/pools/pool-1/members/batch-add/\n"
            "\n"
            "content-length:66\n"
            "content-type:application/json\n"
            f"host:{HOST}\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "content-length;content-type;host;x-sdk-date\n"
            "cc9ff4a5a2df1fb9d3b71cc02a4e4ce881fa23be60aee5e8cac1c463eee60566"
        ),
        authorization=_auth(
            "content-length;content-type;host;x-sdk-date",
            "4cb81b375c33c9b4abaece678e47a7a3ad710bc63029f465592662a7b2a30a4e",
        ),
    ),
    KnownAnswer(
        id="security-token-and-project-id",
        method="GET",
        url=f"{BASE}/v3/0123456789abcdef/elb/pools",
        auth_kwargs={"security_token": "tok-EXAMPLE/+=", "project_id": "0123456789abcdef"},
        canonical=(
            "GET\n"
            "/v3/0123456789abcdef/elb/pools/\n"
            "\n"
            f"host:{HOST}\n"
            "x-project-id:0123456789abcdef\n"
            f"x-sdk-date:{DATE}\n"
            "x-security-token:tok-EXAMPLE/+=\n"
            "\n"
            "host;x-project-id;x-sdk-date;x-security-token\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-project-id;x-sdk-date;x-security-token",
            "67911529cc1856a731d012d9195fb5b76f03c7780b5d64a5d13ed226ffe2e5ac",
        ),
    ),
    KnownAnswer(
        id="header-value-with-surrounding-spaces",
        method="GET",
        url=f"{BASE}/v3/p/elb/pools",
        headers={"X-Request-Tag": "  padded value  "},
        canonical=(
            "GET\n"
            "/v3/p/elb/pools/\n"
            "\n"
            f"host:{HOST}\n"
            "x-request-tag:padded value\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "host;x-request-tag;x-sdk-date\n"
            f"{EMPTY_SHA256}"
        ),
        authorization=_auth(
            "host;x-request-tag;x-sdk-date",
            "73a2032301a2057ac23f80d101dc7aa0655a57047bc526de3ffdb179db77a3d7",
        ),
    ),
    KnownAnswer(
        id="declared-unsigned-payload",
        method="POST",
        url=f"{BASE}/v3/p/x",
        headers={"Content-Type": "text/plain", "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"},
        content=b"hello",
        canonical=(
            "POST\n"
            "/v3/p/x/\n"
            "\n"
            "content-length:5\n"
            "content-type:text/plain\n"
            f"host:{HOST}\n"
            "x-sdk-content-sha256:UNSIGNED-PAYLOAD\n"
            f"x-sdk-date:{DATE}\n"
            "\n"
            "content-length;content-type;host;x-sdk-content-sha256;x-sdk-date\n"
            "UNSIGNED-PAYLOAD"
        ),
        authorization=_auth(
            "content-length;content-type;host;x-sdk-content-sha256;x-sdk-date",
            "e387dbcdb82162cb3a4ce908a210c6f76d14c054d6dfe96e30fe9e72d98a5bf4",
        ),
    ),
]


def sign(request: httpx.Request, auth: httpx.Auth) -> httpx.Request:
    """Run one step of the auth flow, as httpx's own auth tests do."""
    flow = auth.sync_auth_flow(request)
    return next(flow)


def signature_of(authorization: str) -> str:
    parsed = parse_authorization(authorization)
    assert parsed is not None
    return parsed.signature


@pytest.fixture
def captured_canonical(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every canonical request the signer builds, in order."""
    seen: list[str] = []
    original: Callable[..., str] = sdk_hmac.canonical_request

    def spy(**kwargs: Any) -> str:
        text = original(**kwargs)
        seen.append(text)
        return text

    monkeypatch.setattr(sdk_hmac, "canonical_request", spy)
    return seen


@pytest.mark.parametrize("case", KNOWN_ANSWERS, ids=lambda case: case.id)
def test_signing_a_known_request_gives_the_sdks_authorization(case: KnownAnswer) -> None:
    signed = sign(case.request(), case.auth())

    assert signed.headers["Authorization"] == case.authorization


@pytest.mark.parametrize("case", KNOWN_ANSWERS, ids=lambda case: case.id)
def test_the_signer_builds_the_hand_written_canonical_request(
    case: KnownAnswer, captured_canonical: list[str]
) -> None:
    sign(case.request(), case.auth())

    assert captured_canonical == [case.canonical]


@pytest.mark.parametrize("case", KNOWN_ANSWERS, ids=lambda case: case.id)
def test_the_hand_written_canonical_request_hashes_to_the_pinned_signature(
    case: KnownAnswer,
) -> None:
    digest = hashlib.sha256(case.canonical.encode("utf-8")).hexdigest()
    to_sign = f"SDK-HMAC-SHA256\n{DATE}\n{digest}"
    expected = hmac.new(SK.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    signed_line = case.canonical.split("\n")[-2]

    assert signature_of(case.authorization) == expected
    assert f"SignedHeaders={signed_line}," in case.authorization


def test_canonical_uri_encodes_each_segment_and_adds_a_trailing_slash() -> None:
    assert canonical_uri("/v3/p/a%20b/%C3%BC") == "/v3/p/a%20b/%C3%BC/"
    assert canonical_uri("/v3/p/pools/") == "/v3/p/pools/"
    assert canonical_uri("/x/a~b:c") == "/x/a~b%3Ac/"


def test_canonical_query_sorts_by_key_then_value_and_encodes_both() -> None:
    pairs = [("b", "2"), ("a key", "z"), ("a key", "y/1"), ("c", "")]

    assert canonical_query(pairs) == "a%20key=y%2F1&a%20key=z&b=2&c="


def test_an_x_sdk_date_already_on_the_request_is_kept() -> None:
    request = httpx.Request("GET", f"{BASE}/v3/p", headers={"X-Sdk-Date": "20200101T000000Z"})

    signed = sign(request, AkSkAuth(AK, SK))

    assert signed.headers.get_list("X-Sdk-Date") == ["20200101T000000Z"]


def test_without_an_x_sdk_date_the_current_utc_time_is_signed() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    signed = sign(httpx.Request("GET", f"{BASE}/v3/p"), AkSkAuth(AK, SK))
    after = datetime.now(timezone.utc)

    sent = signed.headers["X-Sdk-Date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", sent)
    when = datetime.strptime(sent, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= when <= after + timedelta(seconds=1)
    same_date = httpx.Request("GET", f"{BASE}/v3/p", headers={"X-Sdk-Date": sent})
    assert (
        sign(same_date, AkSkAuth(AK, SK)).headers["Authorization"]
        == (signed.headers["Authorization"])
    )


def test_project_id_and_security_token_are_added_and_signed() -> None:
    auth = AkSkAuth(AK, SK, security_token="tok-1", project_id="proj-1")

    signed = sign(httpx.Request("GET", f"{BASE}/v3/p", headers={"X-Sdk-Date": DATE}), auth)

    assert signed.headers["X-Project-Id"] == "proj-1"
    assert signed.headers["X-Security-Token"] == "tok-1"
    parsed = parse_authorization(signed.headers["Authorization"])
    assert parsed is not None
    assert "x-project-id" in parsed.signed_headers
    assert "x-security-token" in parsed.signed_headers


def test_an_x_project_id_already_on_the_request_is_not_replaced() -> None:
    request = httpx.Request("GET", f"{BASE}/v3/p", headers={"X-Project-Id": "explicit"})

    signed = sign(request, AkSkAuth(AK, SK, project_id="configured"))

    assert signed.headers.get_list("X-Project-Id") == ["explicit"]


def test_token_auth_sends_x_auth_token_and_no_authorization() -> None:
    signed = sign(httpx.Request("GET", f"{BASE}/v3/p"), TokenAuth("iam-token-value"))

    assert signed.headers["X-Auth-Token"] == "iam-token-value"
    assert "Authorization" not in signed.headers
    assert "X-Sdk-Date" not in signed.headers


def test_signing_twice_leaves_one_authorization_and_does_not_sign_it() -> None:
    case = KNOWN_ANSWERS[0]
    request = case.request()

    sign(request, case.auth())
    signed = sign(request, case.auth())

    assert signed.headers.get_list("Authorization") == [case.authorization]


def test_hop_by_hop_headers_are_not_signed() -> None:
    case = KNOWN_ANSWERS[0]
    request = httpx.Request(
        "GET", case.url, headers={"X-Sdk-Date": DATE, "Connection": "keep-alive"}
    )

    signed = sign(request, case.auth())

    assert signed.headers["Authorization"] == case.authorization


def test_parse_authorization_round_trips_a_signed_header() -> None:
    value = KNOWN_ANSWERS[-1].authorization

    parsed = parse_authorization(value)

    assert parsed is not None
    assert parsed.access_key == AK
    assert parsed.signed_headers == [
        "content-length",
        "content-type",
        "host",
        "x-sdk-content-sha256",
        "x-sdk-date",
    ]
    assert parsed.signature == "e387dbcdb82162cb3a4ce908a210c6f76d14c054d6dfe96e30fe9e72d98a5bf4"
    assert authorization_header(parsed.access_key, parsed.signed_headers, parsed.signature) == value


def test_parse_authorization_lower_cases_an_upper_case_signature() -> None:
    parsed = parse_authorization(
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature=ABCDEF01"
    )

    assert parsed is not None
    assert parsed.signature == "abcdef01"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "Bearer eyJhbGciOi.x.y",
        f"OBS {AK}:c2lnbmF0dXJl",
        f"SDK-HMAC-SM3 Access={AK}, SignedHeaders=host, Signature=abcd",
        f"SDK-HMAC-SHA256 Access={AK}, Signature=abcd",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature=not-hex",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host",
        "SDK-HMAC-SHA256 SignedHeaders=host, Signature=abcd",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature=abcd, Extra=1",
    ],
)
def test_parse_authorization_rejects_anything_but_an_sdk_hmac_sha256_header(value: str) -> None:
    assert parse_authorization(value) is None


def _json_request(**changes: Any) -> httpx.Request:
    base: dict[str, Any] = {
        "url": f"{BASE}/v3/p/elb/pools/pool-1/members/batch-add",
        "params": [("limit", "2")],
        "headers": {"X-Sdk-Date": DATE, "Content-Type": "application/json"},
        "content": JSON_BODY,
    }
    base.update(changes)
    return httpx.Request("POST", **base)


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(
            {"content": JSON_BODY.replace(b'"weight":1', b'"weight":2')}, id="body-same-length"
        ),
        pytest.param(
            {"headers": {"X-Sdk-Date": DATE, "Content-Type": "application/json; charset=utf-8"}},
            id="signed-header",
        ),
        pytest.param(
            {"headers": {"X-Sdk-Date": "20240601T083001Z", "Content-Type": "application/json"}},
            id="date",
        ),
        pytest.param({"params": [("limit", "3")]}, id="query-value"),
        pytest.param({"params": [("limit", "2"), ("marker", "x")]}, id="query-extra-key"),
        pytest.param({"url": f"{BASE}/v3/p/elb/pools/pool-2/members/batch-add"}, id="path"),
    ],
)
def test_the_signature_changes_when_the_request_changes(changed: dict[str, Any]) -> None:
    auth = AkSkAuth(AK, SK)
    original = signature_of(sign(_json_request(), auth).headers["Authorization"])
    again = signature_of(sign(_json_request(), auth).headers["Authorization"])

    modified = signature_of(sign(_json_request(**changed), auth).headers["Authorization"])

    assert original == again
    assert modified != original


def test_the_signature_changes_with_the_secret_key_but_not_the_signed_header_list() -> None:
    case = KNOWN_ANSWERS[0]

    other = sign(case.request(), AkSkAuth(AK, SK + "x")).headers["Authorization"]

    assert other != case.authorization
    assert other.split(", Signature=")[0] == case.authorization.split(", Signature=")[0]


def test_header_names_with_underscores_are_left_unsigned_like_the_sdk() -> None:
    request = httpx.Request(
        "GET", f"{BASE}/v3/p/elb/pools", headers={"X-Sdk-Date": DATE, "X_Custom": "v"}
    )

    signed = sign(request, AkSkAuth(AK, SK))

    assert signed.headers["Authorization"] == _auth(
        "host;x-sdk-date", "7ec68d1fd14942418cc167b5e05f869b2f118f06e2f3e555e83007954f2f5f83"
    )


def test_the_query_is_sent_exactly_as_it_was_signed() -> None:
    request = httpx.Request(
        "GET", f"{BASE}/v3/p/elb/members", params={"name": "web 01"}, headers={"X-Sdk-Date": DATE}
    )

    signed = sign(request, AkSkAuth(AK, SK))

    assert signed.url.query == b"name=web%2001"
