"""Where credentials come from: the function's agency in the cloud, variables locally."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from elbsync.errors import ConfigError
from elbsync.http.auth.sdk_hmac import AkSkAuth, TokenAuth
from elbsync.runtime.context import FunctionContext
from elbsync.runtime.logs import register_secret
from elbsync.settings import Settings

__all__ = ["Credentials"]


@dataclass(frozen=True, repr=False)
class Credentials:
    """Temporary or permanent AK/SK (with an optional security token), or an IAM token."""

    access_key: str | None = None
    secret_key: str | None = None
    security_token: str | None = None
    iam_token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(***)"

    @classmethod
    def resolve(cls, context: FunctionContext | None, settings: Settings) -> Credentials:
        """The agency's temporary AK/SK, else its IAM token, else ``HUAWEICLOUD_SDK_*``."""
        found = cls._from_context(context) if context is not None else cls()
        if not found.usable:
            found = cls(
                access_key=settings.access_key,
                secret_key=settings.secret_key,
                security_token=settings.security_token,
            )
        for secret in (found.access_key, found.secret_key, found.security_token, found.iam_token):
            register_secret(secret)
        return found

    @classmethod
    def _from_context(cls, context: FunctionContext) -> Credentials:
        def read(method: str) -> str | None:
            getter = getattr(context, method, None)
            value = getter() if callable(getter) else None
            return value if isinstance(value, str) and value else None

        return cls(
            access_key=read("getSecurityAccessKey"),
            secret_key=read("getSecuritySecretKey"),
            security_token=read("getSecurityToken"),
            iam_token=read("getToken"),
        )

    @property
    def has_keys(self) -> bool:
        return bool(self.access_key and self.secret_key)

    @property
    def usable(self) -> bool:
        return self.has_keys or bool(self.iam_token)

    def api_auth(self, project_id: str | None) -> httpx.Auth:
        """The ``httpx.Auth`` for Huawei Cloud APIs: a signature when keys exist, else a token."""
        if self.access_key and self.secret_key:
            return AkSkAuth(
                self.access_key,
                self.secret_key,
                security_token=self.security_token,
                project_id=project_id,
            )
        if self.iam_token:
            return TokenAuth(self.iam_token)
        raise ConfigError(
            "HUAWEICLOUD_SDK_AK",
            "no credentials: give the function an agency, or set HUAWEICLOUD_SDK_AK and "
            "HUAWEICLOUD_SDK_SK for local runs",
        )
