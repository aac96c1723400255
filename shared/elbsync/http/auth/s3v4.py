"""AWS Signature Version 4 for S3-compatible object stores (OBS accepts it too).

The payload is never hashed: every request says ``x-amz-content-sha256: UNSIGNED-PAYLOAD``, the
only V4 payload mode OBS accepts, unless the caller already set that header (the published AWS
examples pin a real hash, and the known-answer tests replay them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import httpx

from elbsync.http.auth.base import KeySigner, header_values

__all__ = [
    "ALGORITHM",
    "CONTENT_SHA256_HEADER",
    "DATE_FORMAT",
    "DATE_HEADER",
    "SECURITY_TOKEN_HEADER",
    "UNSIGNED_PAYLOAD",
    "S3SigV4Auth",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "credential_scope",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_HEADER = "X-Amz-Date"
CONTENT_SHA256_HEADER = "x-amz-content-sha256"
SECURITY_TOKEN_HEADER = "x-amz-security-token"  # noqa: S105 (a header name)
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# Headers worth binding to the signature. Hop-by-hop and client-chosen ones (User-Agent,
# Accept-Encoding, Connection) are left out: a proxy may rewrite them.
_SIGNED_HEADERS = frozenset(
    {
        "host",
        "content-md5",
        "content-type",
        "date",
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    }
)


def _encode(text: str, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding: only ``A-Z a-z 0-9 - _ . ~`` (and ``/`` if asked) stay."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_uri(raw_path: str) -> str:
    """The decoded path encoded once, slashes kept (S3 does not double-encode)."""
    return _encode(unquote(raw_path), keep_slash=True) or "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((_encode(k), _encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _collapse(value: str) -> str:
    return " ".join(value.split())


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, list[str]]:
    """The canonical request and the sorted signed header names (``headers`` lower-cased)."""
    signed = sorted(headers)
    header_lines = "".join(f"{name}:{_collapse(headers[name])}\n" for name in signed)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query),
            header_lines,
            ";".join(signed),
            payload_hash,
        ]
    )
    return text, signed


def credential_scope(day: str, region: str, service: str) -> str:
    return f"{day}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The derived key: HMAC chain over date, region, service and ``aws4_request``."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


class S3SigV4Auth(KeySigner):
    """Signs each request with AWS Signature Version 4 (header form).

    ``X-Amz-Date`` already on the request is kept, so signatures can be pinned in tests. With
    temporary credentials the token travels in ``x-amz-security-token`` and is signed.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        region: str,
        security_token: str | None = None,
        service: str = "s3",
    ) -> None:
        super().__init__(access_key, secret_key, security_token=security_token)
        self.region = region
        self.service = service

    def __repr__(self) -> str:
        return f"S3SigV4Auth(access_key={self.access_key[:4]}…, region={self.region!r})"

    def sign(self, request: httpx.Request) -> None:
        """Add the date, payload, token and ``Authorization`` headers to ``request`` in place."""
        headers = request.headers
        if DATE_HEADER not in headers:
            headers[DATE_HEADER] = datetime.now(timezone.utc).strftime(DATE_FORMAT)
        if CONTENT_SHA256_HEADER not in headers:
            headers[CONTENT_SHA256_HEADER] = UNSIGNED_PAYLOAD
        if self._security_token:
            headers[SECURITY_TOKEN_HEADER] = self._security_token
        if "Host" not in headers:
            headers["Host"] = request.url.netloc.decode("ascii")
        headers.pop("Authorization", None)

        values = {
            name: text.strip()
            for name, text in header_values(
                request, keep=lambda n: n in _SIGNED_HEADERS or n.startswith("x-amz-")
            ).items()
        }
        amz_date = headers[DATE_HEADER]
        day = amz_date[:8]
        canonical, signed = canonical_request(
            method=request.method,
            raw_path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            query=request.url.params.multi_items(),
            headers=values,
            payload_hash=headers[CONTENT_SHA256_HEADER],
        )
        scope = credential_scope(day, self.region, self.service)
        key = signing_key(self._secret_key, day, self.region, self.service)
        to_sign = string_to_sign(amz_date, scope, canonical)
        sig = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={self.access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}"
        )
