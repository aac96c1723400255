"""Choosing a backend from the state URL, and what only the directory backend promises."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from elbsync.deadline import Deadline
from elbsync.errors import ConfigError
from elbsync.http.auth.obs import ObsAuth
from elbsync.http.auth.s3v4 import S3SigV4Auth
from elbsync.settings import Settings
from elbsync.state import (
    CheckJob,
    ObjectStore,
    StateRepository,
    WriteOutcomeUnknownError,
    layout,
    open_store,
)
from elbsync.state.directory import DirectoryStore
from elbsync.state.obs import ObsStore
from elbsync.state.s3 import S3Store
from structlog.typing import EventDict

from tests.fixtures.objectstore import FakeBucketServer

DEADLINE = Deadline.after(3600)


@pytest.fixture
def client() -> httpx.Client:
    return httpx.Client()


def test_the_default_state_url_is_a_directory_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = open_store(Settings.from_env({}), deadline=DEADLINE)

    assert isinstance(store, DirectoryStore)
    assert store.root == tmp_path / ".elbsync-state"


def test_an_absolute_file_url_names_that_directory(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/state", deadline=DEADLINE)

    assert isinstance(store, DirectoryStore)
    assert store.root == tmp_path / "state"


def test_s3_urls_open_a_path_style_sigv4_store_with_settings_credentials(
    client: httpx.Client,
) -> None:
    settings = Settings.from_env(
        {
            "ELBSYNC_STATE_URL": "s3://elbsync-state/prod/east",
            "ELBSYNC_OBS_ENDPOINT": "http://127.0.0.1:8333",
            "HUAWEICLOUD_SDK_AK": "AK",
            "HUAWEICLOUD_SDK_SK": "SK",
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": "TOKEN",
            "ELBSYNC_REGION": "cn-north-4",
        }
    )

    store = open_store(settings, deadline=DEADLINE, client=client)

    assert isinstance(store, S3Store)
    assert store.url == "s3://elbsync-state/prod/east/"
    assert (
        store.object_url("v1/x.json") == "http://127.0.0.1:8333/elbsync-state/prod/east/v1/x.json"
    )
    assert isinstance(store.auth, S3SigV4Auth)
    assert store.auth.region == "cn-north-4"


def test_obs_urls_open_a_virtual_host_store_on_the_regional_endpoint(client: httpx.Client) -> None:
    store = open_store(
        "obs://elbsync-state/prod",
        deadline=DEADLINE,
        client=client,
        access_key="AK",
        secret_key="SK",
        security_token="TOKEN",
        region="ap-southeast-1",
    )

    assert isinstance(store, ObsStore)
    assert isinstance(store.auth, ObsAuth)
    assert store.object_url("v1/x.json") == (
        "https://elbsync-state.obs.ap-southeast-1.myhuaweicloud.com/prod/v1/x.json"
    )


def test_explicit_credentials_win_over_settings(client: httpx.Client) -> None:
    settings = Settings.from_env(
        {
            "ELBSYNC_STATE_URL": "obs://elbsync-state",
            "ELBSYNC_OBS_ENDPOINT": "https://obs.example.test",
            "HUAWEICLOUD_SDK_AK": "FROM-SETTINGS",
            "HUAWEICLOUD_SDK_SK": "SK",
        }
    )

    store = open_store(
        settings, deadline=DEADLINE, client=client, access_key="FROM-CONTEXT", secret_key="SK2"
    )

    assert isinstance(store.auth, ObsAuth)
    assert store.auth.access_key == "FROM-CONTEXT"


@pytest.mark.parametrize(
    ("url", "variable"),
    [
        ("ftp://bucket/x", "ELBSYNC_STATE_URL"),
        ("s3://Bad_Bucket/x", "ELBSYNC_STATE_URL"),
        ("s3://bucket/x", "ELBSYNC_OBS_ENDPOINT"),
        ("obs://bucket/x", "ELBSYNC_OBS_ENDPOINT"),
        ("file://", "ELBSYNC_STATE_URL"),
    ],
)
def test_a_bad_or_incomplete_state_url_names_the_variable_to_fix(
    url: str, variable: str, client: httpx.Client
) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url, deadline=DEADLINE, client=client, access_key="AK", secret_key="SK")

    assert caught.value.variable == variable


def test_remote_stores_need_credentials(client: httpx.Client) -> None:
    with pytest.raises(ConfigError, match="access key"):
        open_store("s3://bucket/x", deadline=DEADLINE, client=client, endpoint="http://127.0.0.1")


def test_importing_the_state_package_loads_no_backend() -> None:
    code = (
        "import sys, elbsync.state;"
        "loaded = [m for m in ('elbsync.state.directory', 'elbsync.state.s3', "
        "'elbsync.state.obs', 'elbsync.state.bucket') if m in sys.modules];"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""


def test_directory_writes_leave_no_temporary_files_behind(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, deadline=DEADLINE)

    store.put("a/b.json", b"1")
    store.put("a/b.json", b"2")
    store.create("a/c.json", b"3")

    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == []
    assert (tmp_path / "a" / "b.json").read_bytes() == b"2"


def test_directory_listing_skips_temporary_and_hidden_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, deadline=DEADLINE)
    store.put("k.json", b"1")
    (tmp_path / ".tmp" / "half-written.part").write_bytes(b"{")
    (tmp_path / ".DS_Store").write_bytes(b"")

    assert [listed.key for listed in store.list("")] == ["k.json"]


def test_directory_delete_prunes_folders_left_empty(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, deadline=DEADLINE)
    store.put("v1/audit/2024/06/03/x.json", b"1")
    store.put("v1/audit/2024/06/04/y.json", b"1")

    store.delete("v1/audit/2024/06/03/x.json")

    assert not (tmp_path / "v1/audit/2024/06/03").exists()
    assert (tmp_path / "v1/audit/2024/06/04/y.json").exists()


def test_a_directory_shared_by_processes_keeps_one_winner_per_create(tmp_path: Path) -> None:
    code = (
        "import sys; from elbsync.state.directory import DirectoryStore;"
        "from elbsync.state import KeyExistsError; from elbsync.deadline import Deadline;"
        f"s = DirectoryStore({str(tmp_path)!r}, deadline=Deadline.after(60));"
        "won = 0\n"
        "for n in range(50):\n"
        "    try: s.create(f'race/{n}.json', sys.argv[1].encode()); won += 1\n"
        "    except KeyExistsError: pass\n"
        "print(won)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"p{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    # The count is the last line: each process also logs its writes (structlog's default: stdout).
    wins = [int(proc.communicate(timeout=60)[0].splitlines()[-1]) for proc in procs]

    assert sum(wins) == 50
    assert len(os.listdir(tmp_path / "race")) == 50


def test_an_update_whose_reply_was_lost_decides_again_from_what_is_stored() -> None:
    bucket = FakeBucketServer(style="obs")
    repo = StateRepository(bucket.open())
    added = repo.add(
        CheckJob(
            job_id="j",
            member_id="m",
            pool_id="p",
            listener_id="l",
            next_poll_at=datetime.now(timezone.utc),
        )
    )
    bucket.fail_next("PUT", "status", status=500)  # not applied, reply says nothing useful

    updated = repo.update(added.model_copy(update={"status": "processing", "attempts": 1}))

    assert updated.status == "processing"
    assert bucket.count("PUT") == 2  # one lost, one decided after reading the record again
    stored = repo.load(CheckJob, "j")
    assert stored is not None
    assert stored.revision == 1


def test_a_lost_reply_is_raised_when_reading_back_twice_still_shows_other_bytes() -> None:
    bucket = FakeBucketServer(style="s3")
    repo = StateRepository(bucket.open())
    added = repo.add(
        CheckJob(
            job_id="j",
            member_id="m",
            pool_id="p",
            listener_id="l",
            next_poll_at=datetime.now(timezone.utc),
        )
    )
    bucket.fail_next("PUT", "status", status=502)
    bucket.fail_next("PUT", "status", status=502)
    puts_before = bucket.count("PUT")  # S3 creates with a conditional PUT

    with pytest.raises(WriteOutcomeUnknownError):
        repo.update(added.model_copy(update={"status": "processing"}))

    assert bucket.count("PUT") - puts_before == 2
    assert repo.store.get(layout.pending_key("check_job", "j")) is not None


def test_the_directory_logs_its_writes_with_the_lines_a_bucket_logs(
    tmp_path: Path, log_lines: list[EventDict]
) -> None:
    def written(store: ObjectStore) -> list[tuple[object, ...]]:
        log_lines.clear()
        store.put("w/k.json", b"1")
        store.create("w/c.json", b"1")
        store.delete("w/k.json")
        return [(line["event"], line["operation"], line["key"]) for line in log_lines]

    directory = written(DirectoryStore(tmp_path, deadline=DEADLINE))

    assert directory == written(FakeBucketServer(style="s3").open())
    assert directory == written(FakeBucketServer(style="obs").open())
    assert [event for event, _, _ in directory] == [
        "state_write_started",
        "state_write_finished",
    ] * 3
