"""A local stand-in for FunctionGraph's context object, with the runtime's method names."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

__all__ = ["LocalContext"]


class LocalContext:
    """Answers like the cloud's context; the deadline starts when the object is created.

    Agency credentials are empty unless given, so local runs fall back to the
    ``HUAWEICLOUD_SDK_*`` variables, as the settings document.
    """

    def __init__(
        self,
        function_name: str,
        *,
        timeout_s: float = 30.0,
        request_id: str | None = None,
        user_data: Mapping[str, str] | None = None,
        access_key: str = "",
        secret_key: str = "",
        security_token: str = "",
        token: str = "",
        memory_mb: int = 256,
    ) -> None:
        self._function_name = function_name
        self._timeout_s = timeout_s
        self._request_id = request_id or str(uuid.uuid4())
        self._user_data = dict(user_data or {})
        self._credentials = (access_key, secret_key, security_token, token)
        self._memory_mb = memory_mb
        self._started = time.monotonic()

    def getRequestID(self) -> str:  # FunctionGraph's own method names, camelCase
        return self._request_id

    def getRemainingTimeInMilliSeconds(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self._timeout_s - elapsed) * 1000))

    def getRunningTimeInSeconds(self) -> int:
        return int(self._timeout_s)

    def getFunctionName(self) -> str:
        return self._function_name

    def getVersion(self) -> str:
        return "latest"

    def getAlias(self) -> str:
        return ""

    def getPackage(self) -> str:
        return "default"

    def getMemorySize(self) -> int:
        return self._memory_mb

    def getCPUNumber(self) -> int:
        return 1

    def getUserData(self, key: str, default: str | None = None) -> str | None:
        return self._user_data.get(key, default)

    def getToken(self) -> str:
        return self._credentials[3]

    def getSecurityAccessKey(self) -> str:
        return self._credentials[0]

    def getSecuritySecretKey(self) -> str:
        return self._credentials[1]

    def getSecurityToken(self) -> str:
        return self._credentials[2]
