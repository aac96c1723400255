"""Settings: the one place elbsync reads the environment.

Every variable is documented in the README. A bad value fails fast with a :class:`ConfigError`
naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from elbsync.errors import ConfigError

__all__ = ["API_KEY_ENTRY", "Settings"]

_DEFAULT_ENDPOINT = "https://{service}.{region}.myhuaweicloud.com"
_STATE_SCHEMES = ("file://", "obs://", "s3://")

# Field name -> environment variable(s), first one set wins.
_VARIABLES: dict[str, tuple[str, ...]] = {
    "region": ("ELBSYNC_REGION",),
    "project_id": ("ELBSYNC_PROJECT_ID", "RUNTIME_PROJECT_ID"),
    "elb_endpoint": ("ELBSYNC_ELB_ENDPOINT",),
    "as_endpoint": ("ELBSYNC_AS_ENDPOINT",),
    "ecs_endpoint": ("ELBSYNC_ECS_ENDPOINT",),
    "state_url": ("ELBSYNC_STATE_URL",),
    "obs_endpoint": ("ELBSYNC_OBS_ENDPOINT",),
    "access_key": ("HUAWEICLOUD_SDK_AK",),
    "secret_key": ("HUAWEICLOUD_SDK_SK",),
    "security_token": ("HUAWEICLOUD_SDK_SECURITY_TOKEN",),
    "log_format": ("ELBSYNC_LOG_FORMAT",),
    "log_level": ("ELBSYNC_LOG_LEVEL",),
    "http_timeout": ("ELBSYNC_HTTP_TIMEOUT",),
    "max_attempts": ("ELBSYNC_MAX_ATTEMPTS",),
    "deadline_margin_ms": ("ELBSYNC_DEADLINE_MARGIN_MS",),
    "function_name": ("RUNTIME_FUNC_NAME",),
    "bindings": ("ELBSYNC_BINDINGS",),
    "bindings_key": ("ELBSYNC_BINDINGS_KEY",),
    "max_remove_share": ("ELBSYNC_MAX_REMOVE_SHARE",),
    "poll_concurrency": ("ELBSYNC_POLL_CONCURRENCY",),
    "busy_wait_ms": ("ELBSYNC_BUSY_WAIT_MS",),
    "write_linger_ms": ("ELBSYNC_WRITE_LINGER_MS",),
    "api_auth": ("ELBSYNC_API_AUTH",),
    "api_keys": ("ELBSYNC_API_KEYS",),
    "api_pools": ("ELBSYNC_API_POOLS",),
    "api_sync_seconds": ("ELBSYNC_API_SYNC_SECONDS",),
    "api_base_path": ("ELBSYNC_API_BASE_PATH",),
}
#: One entry of ``ELBSYNC_API_KEYS``: ``sha256:<salt, hex>:<SHA-256 of salt and key, hex>``.
API_KEY_ENTRY = r"sha256:[0-9a-f]{32,128}:[0-9a-f]{64}"


class Settings(BaseModel):
    """Configuration of one function instance, read once from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")
    project_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    elb_endpoint: str | None = None
    as_endpoint: str | None = None
    ecs_endpoint: str | None = None
    state_url: str = "file://.elbsync-state"
    obs_endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    security_token: str | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    http_timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=6, ge=1, le=20)
    deadline_margin_ms: int = Field(default=1500, ge=0, le=60_000)
    function_name: str | None = None
    bindings: str | None = None
    bindings_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./-]{1,256}$")
    max_remove_share: float = Field(default=0.5, gt=0, le=1)
    poll_concurrency: int = Field(default=8, ge=1, le=32)
    #: The wait after each write to a load balancer before the next (its busy window).
    busy_wait_ms: int = Field(default=1000, ge=0, le=30_000)
    #: How long a new lease holder lets a burst's changes gather before its first write.
    write_linger_ms: int = Field(default=250, ge=0, le=10_000)
    #: ``key``: http_api requires an API key from ``api_keys``; ``apig``: it relies on API
    #: Gateway's own authentication alone.
    api_auth: Literal["key", "apig"] = "key"
    #: Salted hashes of the accepted API keys, comma-separated (``elbsync api-key`` makes one).
    api_keys: str | None = Field(
        default=None, pattern=rf"^{API_KEY_ENTRY}(\s*,\s*{API_KEY_ENTRY})*$"
    )
    #: Pools http_api may read and change, comma-separated; ``*`` for every pool. Unset: none.
    api_pools: str | None = Field(
        default=None, pattern=r"^(\*|[A-Za-z0-9_-]{1,64}(\s*,\s*[A-Za-z0-9_-]{1,64})*)$"
    )
    #: How long http_api works on a change before answering ``202 Accepted``. A request ends
    #: within this plus 2 s (a read: plus 1 s): keep that below the API's backend timeout in
    #: API Gateway (5 s unless changed there).
    api_sync_seconds: float = Field(default=2.5, gt=0, le=55)
    #: A path prefix API Gateway puts before ``/v1`` (the API's base path), if any.
    api_base_path: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")

    @field_validator("elb_endpoint", "as_endpoint", "ecs_endpoint", "obs_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if not value.startswith(_STATE_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_STATE_SCHEMES)}, got {value!r}")
        return value

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for field_name, names in _VARIABLES.items():
            for name in names:
                raw = env.get(name)
                if raw is not None and raw.strip() != "":
                    values[field_name] = raw.strip()
                    sources[field_name] = name
                    break
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = str(first["loc"][0]) if first["loc"] else ""
            variable = sources.get(field_name, _VARIABLES.get(field_name, (field_name,))[0])
            raise ConfigError(variable, first["msg"]) from exc

    def endpoint(self, service: Literal["elb", "as", "ecs"]) -> str:
        """The base URL of ``service``: the explicit variable, else derived from the region."""
        explicit = {"elb": self.elb_endpoint, "as": self.as_endpoint, "ecs": self.ecs_endpoint}
        if explicit[service]:
            return str(explicit[service])
        if not self.region:
            variable = f"ELBSYNC_{service.upper()}_ENDPOINT"
            raise ConfigError("ELBSYNC_REGION", f"is required unless {variable} is set")
        return _DEFAULT_ENDPOINT.format(service=service, region=self.region)

    def require_project_id(self) -> str:
        if not self.project_id:
            problem = "is required (or RUNTIME_PROJECT_ID in the cloud)"
            raise ConfigError("ELBSYNC_PROJECT_ID", problem)
        return self.project_id
