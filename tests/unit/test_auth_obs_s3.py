"""Known-answer tests for the object-storage signers.

- S3SigV4Auth: the worked examples of AWS's public "Signature Version 4" S3 documentation
  (credentials AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket
  examplebucket, 2013-05-24) and the signing-key derivation example of the SigV4 guide.
- ObsAuth: the StringToSign examples of OBS's API reference ("Authentication of Signature in a
  Header"), and signatures computed by Huawei's own implementation, esdk-obs-python 3.26.6
  (``obs.auth.Authentication.doAuth`` and the Authorization headers ``ObsClient`` sent to a
  capturing loopback server), installed in a throwaway virtualenv and pinned here.
"""

from __future__ import annotations

import httpx
import pytest
from elbsync.http.auth.obs import ObsAuth, canonical_resource, raw_query_items, virtual_host_bucket
from elbsync.http.auth.s3v4 import S3SigV4Auth, signing_key

AWS_AK = "AKIAIOSFODNN7EXAMPLE"
AWS_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
WELCOME_SHA256 = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
AWS_SCOPE = f"{AWS_AK}/20130524/us-east-1/s3/aws4_request"


def aws_signed(method: str, url: str, headers: dict[str, str], content: bytes | None = None) -> str:
    request = httpx.Request(method, url, headers=headers, content=content)
    S3SigV4Auth(AWS_AK, AWS_SK, region="us-east-1").sign(request)
    return request.headers["Authorization"]


def test_sigv4_matches_aws_get_object_example() -> None:
    authorization = aws_signed(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        {
            "Range": "bytes=0-9",
            "x-amz-content-sha256": EMPTY_SHA256,
            "x-amz-date": "20130524T000000Z",
        },
    )

    assert authorization == (
        f"AWS4-HMAC-SHA256 Credential={AWS_SCOPE}, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_sigv4_matches_aws_put_object_example_with_an_encoded_key() -> None:
    authorization = aws_signed(
        "PUT",
        "https://examplebucket.s3.amazonaws.com/test$file.text",
        {
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": WELCOME_SHA256,
        },
        b"Welcome to Amazon S3.",
    )

    assert authorization.endswith(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_sigv4_matches_aws_get_bucket_lifecycle_example_with_a_valueless_parameter() -> None:
    authorization = aws_signed(
        "GET",
        "https://examplebucket.s3.amazonaws.com/?lifecycle",
        {"x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": "20130524T000000Z"},
    )

    assert authorization.endswith(
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )


def test_sigv4_matches_aws_list_objects_example_with_sorted_query() -> None:
    authorization = aws_signed(
        "GET",
        "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
        {"x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": "20130524T000000Z"},
    )

    assert authorization.endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


def test_sigv4_signing_key_matches_the_aws_derivation_example() -> None:
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")

    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


def test_sigv4_declares_and_signs_an_unsigned_payload_and_the_session_token() -> None:
    request = httpx.Request("PUT", "http://127.0.0.1:8333/bucket/key.json", content=b"{}")

    S3SigV4Auth("AK", "SK", region="cn-north-4", security_token="tok").sign(request)

    assert request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert request.headers["x-amz-security-token"] == "tok"
    signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert signed.split(";") == [
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-security-token",
    ]
    assert "/cn-north-4/s3/aws4_request" in request.headers["Authorization"]


def test_sigv4_keeps_a_pinned_date_and_signing_twice_gives_the_same_header() -> None:
    request = httpx.Request(
        "GET", "http://127.0.0.1/b/k", headers={"X-Amz-Date": "20240603T100000Z"}
    )
    auth = S3SigV4Auth("AK", "SK", region="us-east-1")

    auth.sign(request)
    first = request.headers["Authorization"]
    auth.sign(request)

    assert request.headers["X-Amz-Date"] == "20240603T100000Z"
    assert request.headers["Authorization"] == first
    assert "/20240603/" in first


# -- OBS --------------------------------------------------------------------------------------

OBS_AK = "AKEXAMPLEOBS0000"
OBS_SK = "SKexample/obs+secret0000000000000000000"
OBS_HOST = "obs.cn-north-4.myhuaweicloud.com"


def obs_request(
    method: str, bucket: str, path_and_query: str, headers: dict[str, str]
) -> httpx.Request:
    return httpx.Request(method, f"https://{bucket}.{OBS_HOST}{path_and_query}", headers=headers)


def test_obs_string_to_sign_matches_the_documented_get_object_example() -> None:
    request = obs_request("GET", "bucket", "/object.txt", {"Date": "Sat, 12 Oct 2015 08:12:38 GMT"})

    to_sign = ObsAuth(OBS_AK, OBS_SK).string_to_sign(request)

    assert to_sign == "GET\n\n\nSat, 12 Oct 2015 08:12:38 GMT\n/bucket/object.txt"


def test_obs_string_to_sign_leaves_the_date_line_empty_when_x_obs_date_is_sent() -> None:
    request = obs_request(
        "PUT",
        "bucket",
        "/object.txt",
        {"x-obs-date": "Tue, 15 Oct 2015 07:20:09 GMT", "Content-Type": "text/plain"},
    )

    to_sign = ObsAuth(OBS_AK, OBS_SK, security_token="YwkaRTbdY8g7q").string_to_sign(request)

    # The token is not on the request until sign() adds it: this is the text before that.
    assert (
        to_sign
        == "PUT\n\ntext/plain\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\n/bucket/object.txt"
    )


# (name, method, bucket, path and query, headers, Authorization from esdk-obs-python doAuth)
ESDK_DO_AUTH_CASES = [
    (
        "get object",
        "GET",
        "bucket",
        "/object.txt",
        {"Date": "Sat, 12 Oct 2015 08:12:38 GMT"},
        "JCBF4lNOCH23d+gpvL1Y9BVG5Rc=",
    ),
    (
        "put with md5, type, acl and trimmed meta",
        "PUT",
        "bucket",
        "/object.txt",
        {
            "Date": "Tue, 15 Oct 2015 07:20:09 GMT",
            "Content-MD5": "I5pU0r4+sgO9Emgl1KMQUg==",
            "Content-Type": "text/plain",
            "x-obs-acl": "private",
            "x-obs-meta-owner": "  elbsync  ",
        },
        "PJ5ElTT7yDHLMYBeFsd8csiFqBU=",
    ),
    (
        "put with x-obs-date and token",
        "PUT",
        "bucket",
        "/object.txt",
        {
            "x-obs-date": "Tue, 15 Oct 2015 07:20:09 GMT",
            "Content-Type": "text/plain",
            "x-obs-security-token": "YwkaRTbdY8g7q.temporarytoken",
        },
        "rD1d4KAUORue6kkBEVODPHUVo9M=",
    ),
    (
        "append at position 0",
        "POST",
        "elbsync-state",
        "/prod/v1/idempotency/ab12.json?append&position=0",
        {
            "Date": "Mon, 03 Jun 2024 10:00:00 GMT",
            "Content-Type": "application/json",
            "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        },
        "ewa/NQqLmmRXZ1AFeM67cwMsQfg=",
    ),
    (
        "list v1 with unsigned prefix, marker and max-keys",
        "GET",
        "elbsync-state",
        "/?prefix=prod%2Fv1%2Fpending%2Fcheck-jobs%2F"
        "&marker=prod%2Fv1%2Fpending%2Fcheck-jobs%2Fj-1.json&max-keys=1000",
        {"Date": "Mon, 03 Jun 2024 10:00:00 GMT"},
        "gdt1MyfmL+HCz6C7MOH477KbxNA=",
    ),
    (
        "encoded key with sorted sub-resources",
        "GET",
        "bucket",
        "/dir/a%20b%2Bc~d%3De.json?acl&versionId=v1",
        {"Date": "Mon, 03 Jun 2024 10:00:00 GMT"},
        "k2lldzJKKv8owq5+7M43P7vRsu4=",
    ),
    (
        "delete with x-obs-date and token",
        "DELETE",
        "elbsync-state",
        "/prod/v1/pending/drains/d-1.json",
        {"x-obs-date": "Mon, 03 Jun 2024 10:00:00 GMT", "x-obs-security-token": "tok"},
        "Q66I2wgPnxKgNoydvMIRCJGkk4Y=",
    ),
]


@pytest.mark.parametrize(
    ("method", "bucket", "target", "headers", "expected"),
    [case[1:] for case in ESDK_DO_AUTH_CASES],
    ids=[case[0] for case in ESDK_DO_AUTH_CASES],
)
def test_obs_signature_matches_huaweis_esdk_obs_python(
    method: str, bucket: str, target: str, headers: dict[str, str], expected: str
) -> None:
    request = obs_request(method, bucket, target, headers)

    ObsAuth(OBS_AK, OBS_SK).sign(request)

    assert request.headers["Authorization"] == f"OBS {OBS_AK}:{expected}"


# What ObsClient (signature="obs", virtual-host style, security_token="tok123") put on the wire.
ESDK_WIRE_CASES = [
    (
        "POST",
        "/prod/v1/x.json?append&position=0",
        b"{}",
        "application/json",
        "qRk4nt7h9fjQ4cEZq4g7TJl8q04=",
    ),
    ("PUT", "/prod/v1/y.json", b'{"a":1}', "application/json", "2Sh8sQePMWtmRTJBmefWgy+HKLU="),
    (
        "GET",
        "/?prefix=prod/v1/pending/&marker=prod/v1/pending/a&max-keys=1000",
        b"",
        None,
        "SSSi90MHOeIrtJrcDOczjSacqhM=",
    ),
]


@pytest.mark.parametrize(
    ("method", "target", "body", "content_type", "expected"),
    ESDK_WIRE_CASES,
    ids=["append", "put", "list"],
)
@pytest.mark.parametrize("bucket_hint", [None, "elbsync-state"], ids=["host-derived", "explicit"])
def test_obs_signature_with_token_matches_what_esdk_sent_on_the_wire(
    method: str,
    target: str,
    body: bytes,
    content_type: str | None,
    expected: str,
    bucket_hint: str | None,
) -> None:
    headers = {"Date": "Mon, 23 Nov 2026 11:32:23 GMT"}
    if content_type:
        headers["Content-Type"] = content_type
    request = httpx.Request(
        method,
        f"http://elbsync-state.obs.test.internal:39517{target}",
        headers=headers,
        content=body or None,
    )

    ObsAuth(OBS_AK, OBS_SK, security_token="tok123", bucket=bucket_hint).sign(request)

    assert request.headers["x-obs-security-token"] == "tok123"
    assert request.headers["Authorization"] == f"OBS {OBS_AK}:{expected}"


def test_obs_adds_a_gmt_date_when_none_is_pinned() -> None:
    request = obs_request("GET", "bucket", "/k", {})

    ObsAuth(OBS_AK, OBS_SK).sign(request)

    assert request.headers["Date"].endswith(" GMT")
    assert request.headers["Authorization"].startswith(f"OBS {OBS_AK}:")


def test_obs_path_style_requests_sign_the_path_as_it_is() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9000/bucket/key.json", headers={"Date": "x"})

    assert ObsAuth(OBS_AK, OBS_SK).string_to_sign(request).endswith("\n/bucket/key.json")


@pytest.mark.parametrize(
    ("host", "hint", "bucket"),
    [
        ("mybucket.obs.cn-north-4.myhuaweicloud.com", None, "mybucket"),
        ("obs.cn-north-4.myhuaweicloud.com", None, None),
        ("127.0.0.1", None, None),
        ("state.storage.example.com", "state", "state"),
        ("other.storage.example.com", "state", None),
    ],
)
def test_the_bucket_of_a_virtual_host_request_is_found(
    host: str, hint: str | None, bucket: str | None
) -> None:
    assert virtual_host_bucket(host, hint) == bucket


def test_only_sub_resources_are_part_of_the_canonical_resource() -> None:
    items = raw_query_items("uploadId=abc&prefix=x&acl&x-obs-process=y&marker=m")

    assert canonical_resource("/b/k", items) == "/b/k?acl&uploadId=abc&x-obs-process=y"


def test_signers_never_show_their_secret_in_repr() -> None:
    for auth in (
        ObsAuth("AKVISIBLE", "super-secret", security_token="token-secret"),
        S3SigV4Auth("AKVISIBLE", "super-secret", region="r", security_token="token-secret"),
    ):
        text = repr(auth)
        assert "secret" not in text
        assert "AKVISIBLE" not in text
