"""Who may call http_api, and on which pools.

API Gateway's own authentication (IAM or app) is expected in front, but the function does not
trust the network: unless ``ELBSYNC_API_AUTH=apig``, every request but the health check and the
OpenAPI document needs an API key (``X-Api-Key``, or ``Authorization: Bearer <key>``) whose
salted SHA-256 is in ``ELBSYNC_API_KEYS``. Every configured hash is compared, in constant time,
whatever the key. A pool outside ``ELBSYNC_API_POOLS`` is refused before anything is read about
it, with the same reply whether it exists or not.

An API key is 32 random bytes (URL-safe Base64), so one salted SHA-256 is enough: there is no
password to guess, only a 256-bit secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from elbsync.errors import ConfigError, ElbsyncError
from elbsync.settings import Settings

__all__ = [
    "MAX_KEY_CHARS",
    "Access",
    "ForbiddenError",
    "KeyHash",
    "UnauthorizedError",
    "hash_key",
    "new_key",
]

#: Longest API key read from a request; longer ones are refused without hashing them.
MAX_KEY_CHARS = 256


class UnauthorizedError(ElbsyncError):
    """No API key, or one that is not configured (401)."""

    code = "unauthorized"
    client_error = True


class ForbiddenError(ElbsyncError):
    """The pool is not in the allow-list (403); said the same way whether it exists or not."""

    code = "forbidden"
    client_error = True


@dataclass(frozen=True)
class KeyHash:
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, entry: str) -> KeyHash:
        _, salt, digest = entry.strip().split(":")
        return cls(bytes.fromhex(salt), bytes.fromhex(digest))

    def entry(self) -> str:
        return f"sha256:{self.salt.hex()}:{self.digest.hex()}"


def hash_key(key: str, salt: bytes | None = None) -> KeyHash:
    salt = secrets.token_bytes(16) if salt is None else salt
    return KeyHash(salt, hashlib.sha256(salt + key.encode("utf-8", "surrogatepass")).digest())


def new_key() -> tuple[str, str]:
    """A new API key and its ``ELBSYNC_API_KEYS`` entry."""
    key = secrets.token_urlsafe(32)
    return key, hash_key(key).entry()


def presented_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key is None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else None
    return key or None


class Access:
    def __init__(self, settings: Settings) -> None:
        self.require_key = settings.api_auth == "key"
        entries = (settings.api_keys or "").split(",")
        self.keys = tuple(KeyHash.parse(e) for e in entries if e.strip())
        pools = {p.strip() for p in (settings.api_pools or "").split(",") if p.strip()}
        self.every_pool = "*" in pools
        self.pools = frozenset(pools - {"*"})

    def authenticate(self, headers: Mapping[str, str]) -> None:
        """Raise unless the request carries a configured key (or keys are not required)."""
        if not self.require_key:
            return
        if not self.keys:
            raise ConfigError(
                "ELBSYNC_API_KEYS", "no API key is configured (or set ELBSYNC_API_AUTH=apig)"
            )
        key = presented_key(headers)
        if key is None or len(key) > MAX_KEY_CHARS:
            raise UnauthorizedError("a valid API key is required (X-Api-Key header)")
        matched = False
        for known in self.keys:
            candidate = hash_key(key, known.salt).digest
            matched |= hmac.compare_digest(candidate, known.digest)
        if not matched:
            raise UnauthorizedError("a valid API key is required (X-Api-Key header)")

    def allows(self, pool_id: str) -> bool:
        return self.every_pool or pool_id in self.pools

    def check_pool(self, pool_id: str) -> None:
        if not self.allows(pool_id):
            raise ForbiddenError("the pool is not one this API may use (ELBSYNC_API_POOLS)")

    def allows_all(self, pool_ids: set[str]) -> bool:
        """Whether a record about these pools may be shown (one with no pool: only with ``*``)."""
        return self.every_pool or (bool(pool_ids) and pool_ids <= self.pools)
