"""The write path over the stateful fake ELB, a directory store and virtual time."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from elbsync.clients.elb import ElbClient
from elbsync.deadline import Deadline
from elbsync.http.auth.sdk_hmac import AkSkAuth
from elbsync.http.retry import RetryPolicy
from elbsync.http.session import ApiSession
from elbsync.members.writes import WritePath
from elbsync.runtime.logs import configure
from elbsync.state.directory import DirectoryStore
from elbsync.state.repository import StateRepository

from tests.unit.clients.fake_cloud import PROJECT, FakeCloud

ENDPOINT = "https://elb.test.example"
START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


class FakeTime:
    """Virtual time seen as an aware UTC clock and as a monotonic one; only sleeping (or
    ``advance``) moves it. The writer's sleeps and the client's retry waits are kept apart."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        #: What the write path slept (its pacing and lingering).
        self.sleeps: list[float] = []
        #: What the API client slept between retries.
        self.retry_sleeps: list[float] = []

    def now(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def retry_sleep(self, seconds: float) -> None:
        self.retry_sleeps.append(seconds)
        self.advance(seconds)


#: Every request the fake ELB got, with the virtual time it arrived.
SentLog = list[tuple[datetime, httpx.Request]]


@pytest.fixture(autouse=True)
def log_lines() -> io.StringIO:
    """Logs go to a fresh buffer: an earlier test may have left structlog writing to a
    captured stream pytest has closed since."""
    stream = io.StringIO()
    configure(fmt="json", level="debug", stream=stream, force=True)
    return stream


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def sent() -> SentLog:
    return []


@pytest.fixture
def elb(cloud: FakeCloud, fake_time: FakeTime, sent: SentLog) -> ElbClient:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append((fake_time.now(), request))
        return cloud.handle(request)

    session = ApiSession(
        auth=AkSkAuth("AKTEST", "SKTEST", project_id=PROJECT),
        deadline=Deadline.after(600.0, clock=fake_time.monotonic),
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        policy=RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=4.0),
        sleep=fake_time.retry_sleep,
        rng=lambda: 1.0,
    )
    return ElbClient(session, endpoint=ENDPOINT, project_id=PROJECT)


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(str(tmp_path / "state"), deadline=Deadline.after(300))


@pytest.fixture
def repo(store: DirectoryStore, fake_time: FakeTime) -> StateRepository:
    return StateRepository(store, clock=fake_time.now)


@pytest.fixture
def make_writes(
    elb: ElbClient, repo: StateRepository, fake_time: FakeTime
) -> Callable[[], WritePath]:
    """A new invocation's write path (its own deadline, same store, ELB and time)."""

    def make() -> WritePath:
        return WritePath(
            elb,
            repo,
            deadline=Deadline.after(300, clock=fake_time.monotonic),
            clock=fake_time.now,
            pace_s=1.0,
            linger_s=0.25,
            sleep=fake_time.sleep,
        )

    return make


@pytest.fixture
def writes(make_writes: Callable[[], WritePath]) -> WritePath:
    return make_writes()
