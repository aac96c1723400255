"""Signatures and credentials as a real S3 server checks them (SeaweedFS over HTTP).

SeaweedFS 4.48 answers STS ``AssumeRole`` out of the box, so the temporary-credential tests use
real session credentials it issued, and it rejects a session key whose token is missing,
altered or sent unsigned.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ElementTree

import httpx
import pytest
from elbsync.deadline import Deadline
from elbsync.http.auth.s3v4 import S3SigV4Auth
from elbsync.state import StoreAccessDeniedError, StoreError, open_store

from tests.fixtures.objectstore import TEST_RETRY_POLICY, SeaweedFS

pytestmark = pytest.mark.integration


def state_url(server: SeaweedFS) -> str:
    return server.url(f"creds-{uuid.uuid4().hex[:8]}")


def temporary_credentials(server: SeaweedFS, client: httpx.Client) -> tuple[str, str, str]:
    """Session credentials from SeaweedFS's STS (AssumeRole, signed with the static key)."""
    sts = S3SigV4Auth(server.access_key, server.secret_key, region=server.region, service="sts")
    response = client.post(
        f"{server.endpoint}/",
        data={
            "Action": "AssumeRole",
            "RoleSessionName": "elbsync-test",
            "Version": "2011-06-15",
            "DurationSeconds": "900",
        },
        auth=sts,
    )
    assert response.status_code == 200, response.text
    root = ElementTree.fromstring(response.content)  # noqa: S314 (our own test server)
    values = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter()}
    return values["AccessKeyId"], values["SecretAccessKey"], values["SessionToken"]


def test_a_request_signed_with_the_right_secret_is_accepted(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    store = open_store(
        state_url(seaweedfs),
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        endpoint=seaweedfs.endpoint,
    )

    store.put("probe.json", b"{}")

    stored = store.get("probe.json")
    assert stored is not None
    assert stored.data == b"{}"


def test_a_request_signed_with_the_wrong_secret_is_rejected(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    store = open_store(
        state_url(seaweedfs),
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key + "-wrong",
        endpoint=seaweedfs.endpoint,
        policy=TEST_RETRY_POLICY,
    )

    with pytest.raises(StoreAccessDeniedError) as caught:
        store.put("probe.json", b"{}")

    assert caught.value.status == 403
    assert caught.value.error_code == "SignatureDoesNotMatch"
    assert seaweedfs.secret_key not in str(caught.value.to_dict())


def test_an_unknown_access_key_is_rejected(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    store = open_store(
        state_url(seaweedfs),
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key="AKNOBODY",
        secret_key=seaweedfs.secret_key,
        endpoint=seaweedfs.endpoint,
    )

    with pytest.raises(StoreAccessDeniedError) as caught:
        store.get("probe.json")

    assert caught.value.error_code == "InvalidAccessKeyId"


def test_temporary_credentials_with_their_security_token_are_accepted(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    access_key, secret_key, token = temporary_credentials(seaweedfs, objectstore_client)
    store = open_store(
        state_url(seaweedfs),
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key=access_key,
        secret_key=secret_key,
        security_token=token,
        endpoint=seaweedfs.endpoint,
    )

    store.create("session.json", b'{"by":"session"}')

    assert [listed.key for listed in store.list("")] == ["session.json"]


@pytest.mark.parametrize("token_change", ["missing", "altered"])
def test_temporary_credentials_without_their_true_token_are_rejected(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client, token_change: str
) -> None:
    access_key, secret_key, token = temporary_credentials(seaweedfs, objectstore_client)
    sent = None if token_change == "missing" else token[:-4] + "AAAA"
    store = open_store(
        state_url(seaweedfs),
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key=access_key,
        secret_key=secret_key,
        security_token=sent,
        endpoint=seaweedfs.endpoint,
    )

    with pytest.raises(StoreAccessDeniedError):
        store.get("session.json")


def test_the_security_token_is_covered_by_the_signature(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    access_key, secret_key, token = temporary_credentials(seaweedfs, objectstore_client)
    request = objectstore_client.build_request("GET", f"{seaweedfs.endpoint}/{seaweedfs.bucket}/x")
    S3SigV4Auth(access_key, secret_key, region=seaweedfs.region).sign(request)
    request.headers["x-amz-security-token"] = token  # added after signing: not signed

    response = objectstore_client.send(request)

    assert response.status_code == 403
    assert b"SignatureDoesNotMatch" in response.content


def test_a_missing_bucket_is_reported_rather_than_read_as_empty(
    seaweedfs: SeaweedFS, objectstore_client: httpx.Client
) -> None:
    store = open_store(
        f"s3://missing-{uuid.uuid4().hex[:8]}/state",
        deadline=Deadline.after(30),
        client=objectstore_client,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        endpoint=seaweedfs.endpoint,
    )

    with pytest.raises(StoreError) as caught:
        store.get("anything.json")

    assert caught.value.error_code == "NoSuchBucket"
