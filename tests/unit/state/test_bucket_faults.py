"""The S3 and OBS backends under faults: retries, lost replies and refusals.

Each test drives a :class:`FakeBucketServer` (an in-memory bucket behind httpx.MockTransport)
and asserts on what the bucket received and now holds.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from elbsync.deadline import Deadline
from elbsync.errors import DeadlineExceededError
from elbsync.http.auth.s3v4 import S3SigV4Auth
from elbsync.http.retry import RetryPolicy
from elbsync.state import (
    KeyExistsError,
    StoreAccessDeniedError,
    StoreError,
    StoreUnavailableError,
    WriteOutcomeUnknownError,
    open_store,
)
from elbsync.state.s3 import S3Store

from tests.fixtures.objectstore import FakeBucketServer

STYLES = ["s3", "obs"]


@pytest.fixture(params=STYLES)
def bucket(request: pytest.FixtureRequest) -> FakeBucketServer:
    return FakeBucketServer(style=request.param)


def create_method(bucket: FakeBucketServer) -> str:
    return "POST" if bucket.style == "obs" else "PUT"


def test_a_put_whose_reply_was_lost_after_it_applied_is_confirmed_by_reading_back(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    bucket.fail_next("PUT", "apply_then_raise", error=httpx.ReadTimeout)

    etag = store.put("k.json", b"ours")

    assert bucket.count("PUT") == 1
    assert bucket.count("GET") == 1
    assert bucket.objects["state/k.json"].data == b"ours"
    assert etag


def test_a_put_that_failed_with_500_is_not_resent_when_reading_back_shows_other_bytes(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    store.put("k.json", b"older")
    bucket.fail_next("PUT", "status", status=500, code="InternalError")

    with pytest.raises(WriteOutcomeUnknownError) as caught:
        store.put("k.json", b"newer")

    assert bucket.count("PUT") == 2  # the first put, then the failed one: never a blind third
    assert bucket.objects["state/k.json"].data == b"older"
    assert getattr(caught.value.current, "data", None) == b"older"


@pytest.mark.parametrize("status", [503, 429])
def test_a_throttled_write_is_sent_again_and_succeeds(
    bucket: FakeBucketServer, status: int
) -> None:
    store = bucket.open()
    bucket.fail_next("PUT", "status", status=status, code="SlowDown")
    bucket.fail_next("PUT", "status", status=status, code="SlowDown")

    store.put("k.json", b"x")

    assert bucket.count("PUT") == 3
    assert bucket.objects["state/k.json"].data == b"x"


def test_a_write_that_never_connected_is_sent_again(bucket: FakeBucketServer) -> None:
    store = bucket.open()
    bucket.fail_next("PUT", "raise", error=httpx.ConnectError)

    store.put("k.json", b"x")

    assert bucket.count("PUT") == 2
    assert bucket.count("GET") == 0


def test_reads_are_retried_on_server_errors_and_timeouts(bucket: FakeBucketServer) -> None:
    store = bucket.open()
    store.put("k.json", b"x")
    bucket.fail_next("GET", "status", status=500)
    bucket.fail_next("GET", "raise", error=httpx.ReadTimeout)

    stored = store.get("k.json")

    assert stored is not None
    assert stored.data == b"x"
    assert bucket.count("GET") == 3


def test_retries_stop_at_the_attempt_budget_with_a_store_unavailable_error(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open(policy=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001))
    for _ in range(5):
        bucket.fail_next("GET", "status", status=503, code="SlowDown")

    with pytest.raises(StoreUnavailableError) as caught:
        store.get("k.json")

    assert bucket.count("GET") == 3
    assert caught.value.status == 503
    assert caught.value.error_code == "SlowDown"


def test_no_retry_waits_past_the_deadline(bucket: FakeBucketServer) -> None:
    store = bucket.open(
        deadline=Deadline.after(0.2), policy=RetryPolicy(max_attempts=6, base_delay=5, max_delay=5)
    )
    bucket.fail_next("GET", "status", status=503, code="SlowDown")

    # The jittered wait could be up to 5 s: with 0.2 s left the store gives up unless the
    # draw is tiny, and it never sleeps past the deadline either way.
    try:
        store.get("k.json")
    except StoreUnavailableError:
        assert bucket.count("GET") == 1
    else:
        assert bucket.count("GET") == 2


def recording_waits(
    bucket: FakeBucketServer, waits: list[float], transport: httpx.BaseTransport | None = None
) -> S3Store:
    """An S3 store on ``bucket`` whose waits go to ``waits``, with jitter drawing 0.5."""
    return S3Store(
        client=httpx.Client(transport=transport or bucket.transport()),
        endpoint=bucket.endpoint,
        bucket=bucket.bucket,
        prefix="state",
        auth=S3SigV4Auth(bucket.access_key, bucket.secret_key, region="us-east-1"),
        deadline=Deadline.after(30),
        addressing="path",
        policy=RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0),
        sleep=waits.append,
        rng=lambda: 0.5,
    )


def test_waits_between_retries_use_full_jitter_from_the_policy() -> None:
    bucket = FakeBucketServer(style="s3")
    waits: list[float] = []
    store = recording_waits(bucket, waits)
    for _ in range(3):
        bucket.fail_next("GET", "status", status=503)

    assert store.get("missing.json") is None

    assert waits == [0.05, 0.1, 0.2]


def test_a_create_whose_reply_was_lost_after_it_applied_counts_as_created(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    bucket.fail_next(create_method(bucket), "apply_then_raise", error=httpx.RemoteProtocolError)

    store.create("c.json", b"mine")

    assert bucket.count(create_method(bucket)) == 1
    assert bucket.objects["state/c.json"].data == b"mine"


def test_a_create_lost_before_it_applied_is_sent_again_once_reading_back_finds_nothing(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    bucket.fail_next(create_method(bucket), "raise", error=httpx.ReadTimeout)

    store.create("c.json", b"mine")

    assert bucket.count(create_method(bucket)) == 2
    assert bucket.objects["state/c.json"].data == b"mine"


def test_a_create_lost_while_another_writer_took_the_key_reports_key_exists(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    store.put("c.json", b"theirs")
    bucket.fail_next(create_method(bucket), "raise", error=httpx.ReadTimeout)

    with pytest.raises(KeyExistsError):
        store.create("c.json", b"mine")

    assert bucket.objects["state/c.json"].data == b"theirs"


def test_a_lost_delete_reply_is_resolved_by_reading_back(bucket: FakeBucketServer) -> None:
    store = bucket.open()
    store.put("d.json", b"x")
    bucket.fail_next("DELETE", "apply_then_raise", error=httpx.ReadTimeout)

    store.delete("d.json")

    assert bucket.count("DELETE") == 1
    assert "state/d.json" not in bucket.objects


def test_a_lost_delete_is_not_repeated_when_the_key_now_holds_another_version(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open()
    store.put("d.json", b"new version")
    bucket.fail_next("DELETE", "raise", error=httpx.ReadTimeout)

    with pytest.raises(WriteOutcomeUnknownError):
        store.delete("d.json", expected_etag="etag-of-the-version-we-read")

    assert bucket.count("DELETE") == 1
    assert bucket.objects["state/d.json"].data == b"new version"


def test_a_wrong_obs_secret_is_refused_without_retrying() -> None:
    # The fake checks OBS signatures; SigV4 ones are checked by SeaweedFS (integration tests).
    bucket = FakeBucketServer(style="obs")
    store = bucket.open(secret_key="not-the-secret")

    with pytest.raises(StoreAccessDeniedError) as caught:
        store.get("k.json")

    assert bucket.count() == 1
    assert caught.value.error_code == "SignatureDoesNotMatch"
    assert "not-the-secret" not in str(caught.value.to_dict())


def test_deadline_exceeded_stops_a_call_before_any_request(bucket: FakeBucketServer) -> None:
    store = bucket.open(deadline=Deadline.after(0))

    with pytest.raises(DeadlineExceededError):
        store.put("k.json", b"x")

    assert bucket.count() == 0


def test_every_write_carries_content_md5_for_the_store_to_check(bucket: FakeBucketServer) -> None:
    store = bucket.open()

    store.put("k.json", b"abc")
    store.create("c.json", b"abc")

    writes = [r for r in bucket.requests if r.method in ("PUT", "POST")]
    assert [r.headers["Content-MD5"] for r in writes] == ["kAFQmDzST7DWlj99KOF/cg=="] * 2


def test_obs_uses_virtual_hosts_its_signature_append_for_create_and_marker_paging() -> None:
    bucket = FakeBucketServer(style="obs")
    store = bucket.open(prefix="root")
    for n in range(3):
        store.put(f"k{n}.json", b"1")
    store.create("new.json", b"1")

    keys = [listed.key for listed in store.list("", page_size=2)]

    assert keys == ["k0.json", "k1.json", "k2.json", "new.json"]
    assert {r.url.host for r in bucket.requests} == {"fake-bucket.obs.fake.test"}
    assert all(r.headers["Authorization"].startswith("OBS AKFAKE:") for r in bucket.requests)
    (create,) = [r for r in bucket.requests if r.method == "POST"]
    assert create.url.raw_path == b"/root/new.json?append&position=0"
    lists = [r for r in bucket.requests if r.method == "GET"]
    assert [r.url.params.get("marker") for r in lists] == [None, "root/k1.json"]


def test_s3_uses_path_style_sigv4_if_none_match_and_continuation_tokens() -> None:
    bucket = FakeBucketServer(style="s3")
    store = bucket.open(prefix="root")
    for n in range(3):
        store.put(f"k{n}.json", b"1")
    store.create("new.json", b"1")

    keys = [listed.key for listed in store.list("", page_size=3)]

    assert keys == ["k0.json", "k1.json", "k2.json", "new.json"]
    assert {r.url.path.split("/")[1] for r in bucket.requests} == {"fake-bucket"}
    assert all(r.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD" for r in bucket.requests)
    creates = [r for r in bucket.requests if r.headers.get("If-None-Match") == "*"]
    assert [r.url.path for r in creates] == ["/fake-bucket/root/new.json"]
    lists = [r for r in bucket.requests if r.method == "GET"]
    assert [r.url.params.get("list-type") for r in lists] == ["2", "2"]
    assert lists[1].url.params["continuation-token"] == "root/k2.json"


def test_a_missing_bucket_is_an_error_rather_than_an_empty_store(bucket: FakeBucketServer) -> None:
    store = open_store(
        f"{bucket.style}://no-such-bucket/state",
        deadline=Deadline.after(30),
        client=httpx.Client(transport=bucket.transport()),
        access_key=bucket.access_key,
        secret_key=bucket.secret_key,
        endpoint=bucket.endpoint,
    )

    with pytest.raises(StoreError) as caught:
        store.get("k.json")

    assert caught.value.status == 404
    assert caught.value.error_code == "NoSuchBucket"


def test_each_request_is_timed_out_by_what_the_deadline_has_left(
    bucket: FakeBucketServer,
) -> None:
    store = bucket.open(deadline=Deadline.after(2.0))  # the client's own timeout is 5 s

    store.put("k.json", b"x")
    store.get("k.json")

    for request in bucket.requests:
        timeout = request.extensions["timeout"]
        assert 0 < timeout["read"] <= 2.0
        assert 0 < timeout["connect"] <= 2.0


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "status", "status": 503, "code": "SlowDown"},
        {"action": "raise", "error": httpx.ConnectError},
    ],
    ids=["503", "never-connected"],
)
def test_a_write_that_never_took_effect_says_so_when_the_attempts_run_out(
    bucket: FakeBucketServer, fault: dict[str, object]
) -> None:
    store = bucket.open()
    for _ in range(10):
        bucket.fail_next("PUT", **fault)

    with pytest.raises(StoreUnavailableError) as caught:
        store.put("k.json", b"x")

    assert caught.value.may_have_applied is False
    assert bucket.count("PUT") == 4  # the test policy's attempt budget
    assert bucket.count("GET") == 0  # nothing to read back


def test_the_store_waits_its_own_backoff_whatever_retry_after_says() -> None:
    bucket = FakeBucketServer(style="s3")
    waits: list[float] = []
    store = recording_waits(bucket, waits, httpx.MockTransport(_advising(bucket)))
    bucket.fail_next("GET", "status", status=503, code="SlowDown")

    assert store.get("missing.json") is None
    assert waits == [0.05]


def _advising(bucket: FakeBucketServer) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        response = bucket.handle(request)
        if response.status_code == 503:
            response.headers["Retry-After"] = "30"
        return response

    return handle
