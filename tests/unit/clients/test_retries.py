from __future__ import annotations

import httpx
import pytest
from elbsync.clients.elb import ElbClient, NewMember
from elbsync.errors import (
    AuthError,
    BadRequestError,
    BusyError,
    ConflictError,
    NoAnswerError,
    NotFoundError,
    ServerError,
    ThrottledError,
)

from tests.unit.clients.conftest import FakeClock
from tests.unit.clients.fake_cloud import Failure, FakeCloud

THROTTLED = Failure(429, {"error_code": "APIG.0308", "error_msg": "too many", "request_id": "r1"})
UNAVAILABLE = Failure(503, {"error_code": "ELB.0503", "error_msg": "unavailable"})
BUSY = Failure(409, {"error_code": "ELB.8907", "error_msg": "lb busy", "request_id": "r2"})
MEMBER = [NewMember(address="10.0.0.1", protocol_port=80)]


@pytest.mark.parametrize(
    "failure",
    [THROTTLED, UNAVAILABLE, Failure(500, {}), BUSY, httpx.ConnectError("refused")],
    ids=["throttled-429", "unavailable-503", "500-empty-body", "busy-409", "connection-refused"],
)
def test_a_write_is_retried_after_transient_failures_and_applied_once(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock, failure: Failure | Exception
) -> None:
    cloud.fail_next(failure, failure)

    results = elb.batch_add("pool-1", MEMBER)

    assert [r.ret_status for r in results] == ["successful"]
    assert cloud.calls["elb.batch_add"] == 3
    assert len(cloud.pools["pool-1"]) == 1
    assert clock.sleeps == [0.5, 1.0]  # full jitter with rng=1.0 gives the ceiling


def test_backoff_grows_exponentially_up_to_the_cap(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(*[UNAVAILABLE] * 5)

    elb.list_members("pool-1")

    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_retry_after_from_the_server_is_honoured(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(Failure(429, {"error_code": "APIG.0308"}, headers={"Retry-After": "3"}))

    elb.list_members("pool-1")

    assert clock.sleeps == [3.0]


def test_busy_is_not_retried_for_reads(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(BUSY)

    with pytest.raises(BusyError):
        elb.list_members("pool-1")
    assert cloud.calls["elb.list_members"] == 1


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (Failure(400, {"error_code": "ELB.8902", "error_msg": "bad"}), BadRequestError),
        (Failure(401, {"error_code": "APIG.1002", "error_msg": "bad sig"}), AuthError),
        (Failure(403, {"error_code": "ELB.1101", "error_msg": "denied"}), AuthError),
        (Failure(409, {"error_code": "ELB.8905", "error_msg": "quota"}), ConflictError),
    ],
    ids=["400", "401", "403", "409-quota"],
)
def test_other_client_errors_are_never_retried(
    elb: ElbClient, cloud: FakeCloud, failure: Failure, error_type: type[Exception]
) -> None:
    cloud.fail_next(failure)

    with pytest.raises(error_type):
        elb.batch_add("pool-1", MEMBER)
    assert cloud.calls["elb.batch_add"] == 1
    assert cloud.pools["pool-1"] == []


def test_retries_stop_before_the_deadline(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(*[UNAVAILABLE] * 50)
    started = clock.now

    with pytest.raises(ServerError) as info:
        elb.list_members("pool-1")

    assert clock.now - started < 30.0  # the session's deadline
    assert info.value.status == 503
    assert cloud.calls["elb.list_members"] == 6  # the attempt budget ran out first


def test_a_short_deadline_cuts_retries_short(cloud: FakeCloud, clock: FakeClock) -> None:
    from elbsync.deadline import Deadline
    from elbsync.http.auth.sdk_hmac import TokenAuth
    from elbsync.http.retry import RetryPolicy
    from elbsync.http.session import ApiSession

    session = ApiSession(
        auth=TokenAuth("token"),
        deadline=Deadline.after(2.0, clock=clock),
        client=httpx.Client(transport=cloud.transport()),
        policy=RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=4.0),
        sleep=clock.sleep,
        rng=lambda: 1.0,
    )
    client = ElbClient(session, endpoint="https://elb.example", project_id="p1")
    cloud.fail_next(*[THROTTLED] * 10)

    with pytest.raises(ThrottledError) as info:
        client.list_members("pool-1")

    assert clock.sleeps == [0.5, 1.0]  # a third wait (2.0 s) would pass the deadline
    assert info.value.request_id == "r1"
    assert cloud.calls["elb.list_members"] == 3


def test_connection_errors_that_persist_become_a_transport_error(
    elb: ElbClient, cloud: FakeCloud
) -> None:
    cloud.fail_next(*[httpx.ConnectError("refused")] * 6)

    with pytest.raises(NoAnswerError, match=r"elb\.list_members"):
        elb.list_members("pool-1")


def test_older_error_bodies_are_typed_too(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(
        Failure(
            404, {"error": {"code": "ELB.8904", "message": "pool gone"}}, {"X-Request-Id": "h1"}
        )
    )

    with pytest.raises(NotFoundError, match="pool gone") as info:
        elb.list_members("pool-1")

    assert (info.value.error_code, info.value.request_id) == ("ELB.8904", "h1")


def test_a_busy_write_is_handed_back_at_once_when_the_caller_paces_itself(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(BUSY)

    with pytest.raises(BusyError):
        elb.batch_add("pool-1", MEMBER, retry_busy=False)

    assert cloud.calls["elb.batch_add"] == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("error", "may_have_applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no handshake"), False),
        (httpx.ReadTimeout("no reply"), True),
        (httpx.RemoteProtocolError("reset"), True),
    ],
    ids=["refused", "connect-timeout", "read-timeout", "reset"],
)
def test_no_answer_says_whether_the_request_may_have_reached_the_service(
    elb: ElbClient, cloud: FakeCloud, error: Exception, may_have_applied: bool
) -> None:
    cloud.fail_next(*[error] * 6)

    with pytest.raises(NoAnswerError) as info:
        elb.batch_add("pool-1", MEMBER)

    assert info.value.may_have_applied is may_have_applied
    assert info.value.code == "transport_error"
    assert cloud.calls["elb.batch_add"] == 6  # API writes are retried either way


def test_a_write_whose_reply_timed_out_is_retried_like_any_transport_error(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(httpx.ReadTimeout("no reply"))

    elb.batch_add("pool-1", MEMBER)

    assert cloud.calls["elb.batch_add"] == 2
    assert clock.sleeps == [0.5]


def test_an_api_error_carries_the_wait_the_server_advised(elb: ElbClient, cloud: FakeCloud) -> None:
    cloud.fail_next(
        Failure(400, {"error_code": "ELB.8902"}, headers={"Retry-After": "7"}),
        Failure(400, {"error_code": "ELB.8902"}, headers={"Retry-After": "soon"}),
    )

    with pytest.raises(BadRequestError) as advised:
        elb.list_members("pool-1")
    with pytest.raises(BadRequestError) as unreadable:
        elb.list_members("pool-1")

    assert advised.value.retry_after == 7.0
    assert unreadable.value.retry_after is None


def test_an_advised_wait_longer_than_the_policy_cap_is_cut_to_the_cap(
    elb: ElbClient, cloud: FakeCloud, clock: FakeClock
) -> None:
    cloud.fail_next(Failure(503, {"error_code": "ELB.0503"}, headers={"Retry-After": "60"}))

    elb.list_members("pool-1")

    assert clock.sleeps == [4.0]  # the policy's max_delay


def test_each_attempt_is_timed_out_by_what_the_deadline_has_left(
    cloud: FakeCloud, clock: FakeClock
) -> None:
    from elbsync.deadline import Deadline
    from elbsync.http.auth.sdk_hmac import TokenAuth
    from elbsync.http.retry import RetryPolicy
    from elbsync.http.session import ApiSession

    timeouts: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return cloud.handle(request)

    session = ApiSession(
        auth=TokenAuth("token"),
        deadline=Deadline.after(8.0, clock=clock),
        client=httpx.Client(transport=httpx.MockTransport(handler), timeout=20.0),
        policy=RetryPolicy(max_attempts=3, base_delay=3.0, max_delay=3.0),
        sleep=clock.sleep,
        rng=lambda: 1.0,
    )
    client = ElbClient(session, endpoint="https://elb.example", project_id="p1")
    cloud.fail_next(UNAVAILABLE)

    client.list_members("pool-1")

    assert [t["read"] for t in timeouts] == [8.0, 5.0]  # the client's own 20 s never applies
    assert [t["connect"] for t in timeouts] == [5.0, 5.0]
