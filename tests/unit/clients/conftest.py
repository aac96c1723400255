from __future__ import annotations

import httpx
import pytest
from elbsync.clients.autoscaling import AutoScalingClient
from elbsync.clients.ecs import EcsClient
from elbsync.clients.elb import ElbClient
from elbsync.deadline import Deadline
from elbsync.http.auth.sdk_hmac import AkSkAuth
from elbsync.http.retry import RetryPolicy
from elbsync.http.session import ApiSession

from tests.unit.clients.fake_cloud import PROJECT, FakeCloud

ENDPOINT = "https://elb.test.example"


class FakeClock:
    """Virtual time: ``sleep`` advances it, so retry tests take no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session(cloud: FakeCloud, clock: FakeClock) -> ApiSession:
    return ApiSession(
        auth=AkSkAuth("AKTEST", "SKTEST", project_id=PROJECT),
        deadline=Deadline.after(30.0, clock=clock),
        client=httpx.Client(transport=cloud.transport()),
        policy=RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=4.0),
        sleep=clock.sleep,
        rng=lambda: 1.0,
    )


@pytest.fixture
def elb(session: ApiSession) -> ElbClient:
    return ElbClient(session, endpoint=ENDPOINT, project_id=PROJECT)


@pytest.fixture
def autoscaling(session: ApiSession) -> AutoScalingClient:
    return AutoScalingClient(session, endpoint=ENDPOINT, project_id=PROJECT)


@pytest.fixture
def ecs(session: ApiSession) -> EcsClient:
    return EcsClient(session, endpoint=ENDPOINT, project_id=PROJECT)
