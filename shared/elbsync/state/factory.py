"""Opening the store named by ``ELBSYNC_STATE_URL``.

- ``file://<path>``: :class:`~elbsync.state.directory.DirectoryStore` (``file://.elbsync-state``
  is relative to the working directory, ``file:///var/lib/elbsync`` absolute);
- ``s3://<bucket>/<prefix>``: :class:`~elbsync.state.s3.S3Store` at the object-storage endpoint
  (``ELBSYNC_OBS_ENDPOINT``), path-style, signed with AWS Signature V4;
- ``obs://<bucket>/<prefix>``: :class:`~elbsync.state.obs.ObsStore`, virtual-host style, OBS's
  native signature; the endpoint defaults to ``https://obs.<region>.myhuaweicloud.com``.

Backends are imported only when chosen, so a function that uses one does not load the others.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

import httpx

from elbsync.deadline import Deadline
from elbsync.errors import ConfigError
from elbsync.http.retry import RetryPolicy
from elbsync.settings import Settings
from elbsync.state.store import ObjectStore

if TYPE_CHECKING:
    from elbsync.state.bucket import BucketStore

__all__ = ["open_store"]

STATE_URL_VARIABLE = "ELBSYNC_STATE_URL"
ENDPOINT_VARIABLE = "ELBSYNC_OBS_ENDPOINT"
DEFAULT_S3_REGION = "us-east-1"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def open_store(
    target: Settings | str,
    *,
    deadline: Deadline,
    client: httpx.Client | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    addressing: Literal["path", "virtual"] | None = None,
    policy: RetryPolicy | None = None,
) -> ObjectStore:
    """The store for ``target`` (settings, or a state URL), bound to ``deadline``.

    Explicit arguments win over settings: on FunctionGraph, pass the temporary credentials from
    the context (``getSecurityAccessKey()``, ``getSecuritySecretKey()``, ``getSecurityToken()``).
    Remote backends need ``client``, the process-wide ``httpx.Client``.
    """
    if isinstance(target, Settings):
        url = target.state_url
        access_key = access_key or target.access_key
        secret_key = secret_key or target.secret_key
        security_token = security_token or target.security_token
        region = region or target.region
        endpoint = endpoint or target.obs_endpoint
        policy = policy or RetryPolicy(max_attempts=target.max_attempts)
    else:
        url = target

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("file", "s3", "obs"):
        raise ConfigError(
            STATE_URL_VARIABLE, f"must start with file://, s3:// or obs://, got {url!r}"
        )
    if scheme == "file":
        if not rest:
            raise ConfigError(STATE_URL_VARIABLE, "file:// needs a directory")
        from elbsync.state.directory import DirectoryStore

        return DirectoryStore(unquote(rest), deadline=deadline)

    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ConfigError(STATE_URL_VARIABLE, f"not a valid bucket name: {bucket!r}")
    if client is None:
        raise ConfigError(STATE_URL_VARIABLE, f"{scheme}:// needs an HTTP client")
    if not access_key or not secret_key:
        raise ConfigError("HUAWEICLOUD_SDK_AK", f"{scheme}:// needs an access key and secret key")

    store_class: type[BucketStore]
    auth: httpx.Auth
    if scheme == "s3":
        if not endpoint:
            raise ConfigError(ENDPOINT_VARIABLE, "is required for s3:// state URLs")
        from elbsync.http.auth.s3v4 import S3SigV4Auth
        from elbsync.state.s3 import S3Store

        store_class, chosen = S3Store, addressing or "path"
        auth = S3SigV4Auth(
            access_key,
            secret_key,
            region=region or DEFAULT_S3_REGION,
            security_token=security_token,
        )
    else:
        if not endpoint:
            if not region:
                raise ConfigError(
                    ENDPOINT_VARIABLE, "is required for obs:// unless ELBSYNC_REGION is set"
                )
            endpoint = f"https://obs.{region}.myhuaweicloud.com"
        from elbsync.http.auth.obs import ObsAuth
        from elbsync.state.obs import ObsStore

        store_class, chosen = ObsStore, addressing or "virtual"
        auth = ObsAuth(
            access_key,
            secret_key,
            security_token=security_token,
            bucket=bucket if chosen == "virtual" else None,
        )
    return store_class(
        client=client,
        endpoint=endpoint,
        bucket=bucket,
        prefix=prefix,
        auth=auth,
        deadline=deadline,
        addressing=chosen,
        policy=policy,
    )
