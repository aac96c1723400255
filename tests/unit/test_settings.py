from __future__ import annotations

import pytest
from elbsync.errors import ConfigError
from elbsync.settings import Settings


def test_defaults_point_state_at_a_local_directory() -> None:
    settings = Settings.from_env({})

    assert settings.state_url == "file://.elbsync-state"
    assert settings.log_format == "auto"
    assert settings.deadline_margin_ms == 1500


def test_endpoints_derive_from_the_region_when_not_given() -> None:
    settings = Settings.from_env({"ELBSYNC_REGION": "ap-southeast-1"})

    assert settings.endpoint("elb") == "https://elb.ap-southeast-1.myhuaweicloud.com"
    assert settings.endpoint("as") == "https://as.ap-southeast-1.myhuaweicloud.com"
    assert settings.endpoint("ecs") == "https://ecs.ap-southeast-1.myhuaweicloud.com"


def test_an_explicit_endpoint_wins_and_loses_its_trailing_slash() -> None:
    settings = Settings.from_env(
        {"ELBSYNC_REGION": "cn-north-4", "ELBSYNC_ELB_ENDPOINT": "http://127.0.0.1:9000/"}
    )

    assert settings.endpoint("elb") == "http://127.0.0.1:9000"
    assert settings.endpoint("ecs") == "https://ecs.cn-north-4.myhuaweicloud.com"


def test_no_region_and_no_endpoint_names_the_region_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({}).endpoint("elb")
    assert info.value.variable == "ELBSYNC_REGION"
    assert "ELBSYNC_ELB_ENDPOINT" in info.value.message


def test_project_id_falls_back_to_the_runtime_variable() -> None:
    assert Settings.from_env({"RUNTIME_PROJECT_ID": "abc123"}).project_id == "abc123"
    both = {"RUNTIME_PROJECT_ID": "abc123", "ELBSYNC_PROJECT_ID": "def456"}
    assert Settings.from_env(both).project_id == "def456"


def test_a_missing_project_id_is_reported_when_needed() -> None:
    with pytest.raises(ConfigError, match="ELBSYNC_PROJECT_ID"):
        Settings.from_env({}).require_project_id()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ELBSYNC_STATE_URL", "ftp://bucket/x"),
        ("ELBSYNC_ELB_ENDPOINT", "elb.example.com"),
        ("ELBSYNC_OBS_ENDPOINT", "obs.example.com"),
        ("ELBSYNC_REGION", "Not A Region"),
        ("ELBSYNC_HTTP_TIMEOUT", "soon"),
        ("ELBSYNC_MAX_ATTEMPTS", "0"),
        ("ELBSYNC_LOG_FORMAT", "xml"),
        ("RUNTIME_PROJECT_ID", "bad/project"),
    ],
)
def test_a_bad_value_fails_fast_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert info.value.variable == variable
    assert info.value.message.startswith(variable)


def test_blank_values_count_as_unset() -> None:
    assert Settings.from_env({"ELBSYNC_STATE_URL": "  "}).state_url == "file://.elbsync-state"


def test_log_format_is_case_insensitive() -> None:
    assert Settings.from_env({"ELBSYNC_LOG_FORMAT": "JSON"}).log_format == "json"


def test_settings_are_the_only_reader_of_the_environment() -> None:
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "shared" / "elbsync"
    readers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
        or "os.getenv" in path.read_text(encoding="utf-8")
    ]
    assert readers == ["settings.py"]
