"""check_poller under load: 2,000 pending check jobs and a short deadline."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from elbsync.clients.elb import ElbClient, NewMember
from elbsync.deadline import Deadline
from elbsync.http.auth.sdk_hmac import AkSkAuth
from elbsync.http.session import ApiSession, new_client
from elbsync.state.records import CheckJob

from tests.integration.functions.conftest import Functions

JOBS = 2000


def test_2000_pending_jobs_stop_within_the_deadline_and_stay_valid(functions: Functions) -> None:
    emulator = functions.emulator
    session = ApiSession(
        auth=AkSkAuth(emulator.access_key, emulator.secret_key, project_id=emulator.project_id),
        deadline=Deadline.after(120),
        client=new_client(),
    )
    elb = ElbClient(session, endpoint=emulator.base_url, project_id=emulator.project_id)
    pool_id = emulator.pool_id("pool-web")
    listener_id = emulator.listener_id("listener-http")
    (member,) = elb.batch_add(
        pool_id,
        [
            NewMember(
                address="192.168.1.50",
                protocol_port=80,
                subnet_cidr_id=emulator.subnet_id("subnet-app"),
            )
        ],
    )
    assert member.id is not None
    repo = functions.repository()
    now = functions.now()

    def start(_: int) -> None:
        job_id = elb.create_check_job(str(member.id), listener_id)
        repo.add(
            CheckJob(
                job_id=job_id,
                member_id=str(member.id),
                pool_id=pool_id,
                listener_id=listener_id,
                next_poll_at=now,
                poll_until=now + timedelta(hours=1),
            )
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(start, range(JOBS)))
    functions.travel(5)

    timeout_s = 6.0
    started = time.monotonic()
    reply = functions.tick(timeout_s=timeout_s)
    elapsed = time.monotonic() - started

    assert elapsed < timeout_s, f"the tick took {elapsed:.1f} s of its {timeout_s} s"
    assert reply["failures"] == 0
    assert reply["finished"] + reply["pending"]["check_jobs"] == JOBS
    statuses = {}
    for job_id in repo.pending_ids(CheckJob):
        job = repo.load(CheckJob, job_id)
        assert job is not None  # every record still parses
        statuses[job_id] = job.status
    assert len(statuses) == reply["pending"]["check_jobs"]
    assert set(statuses.values()) <= {"pending", "processing"}
