"""SDK-HMAC-SHA256: the AK/SK request signature Huawei's API gateway verifies.

The canonical request is built exactly as the gateway rebuilds it (PLATFORM.md, "Signing Huawei
API requests"), so the same functions serve the client (:class:`AkSkAuth`) and the emulator's
verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import httpx

from elbsync.http.auth.base import KeySigner, header_values

__all__ = [
    "ALGORITHM",
    "CONTENT_SHA256_HEADER",
    "DATE_FORMAT",
    "DATE_HEADER",
    "AkSkAuth",
    "ParsedAuthorization",
    "TokenAuth",
    "authorization_header",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "parse_authorization",
    "request_payload_hash",
    "request_query_pairs",
    "signature",
    "string_to_sign",
]

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"

# Hop-by-hop headers may be rewritten by any proxy on the way, so they are never signed.
_UNSIGNED_HEADERS = frozenset(
    {"authorization", "connection", "keep-alive", "proxy-connection", "te", "upgrade"}
)


def _encode(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters."""
    return quote(text, safe="~")


def canonical_uri(raw_path: str) -> str:
    """Each decoded segment re-encoded, with a trailing ``/`` added for signing only."""
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Decoded ``(key, value)`` pairs sorted by key then value, encoded, joined by ``&``."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    """The six-line canonical request. ``headers`` must have lower-case names."""
    header_lines = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query),
            header_lines,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 keyed directly with the SK (no key derivation)."""
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(access_key: str, signed_headers: list[str], sig: str) -> str:
    signed = ";".join(signed_headers)
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={signed}, Signature={sig}"


_AUTH_RE = re.compile(
    rf"^{ALGORITHM}\s+Access=(?P<access>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split an ``SDK-HMAC-SHA256`` Authorization header; ``None`` when it is not one."""
    match = _AUTH_RE.match(value.strip())
    if match is None:
        return None
    return ParsedAuthorization(
        access_key=match["access"],
        signed_headers=match["signed"].split(";"),
        signature=match["sig"].lower(),
    )


def request_query_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.url.params.multi_items()]


def request_payload_hash(request: httpx.Request) -> str:
    declared: str | None = request.headers.get(CONTENT_SHA256_HEADER)
    if declared is not None:
        return declared
    return hashlib.sha256(request.content).hexdigest()


class AkSkAuth(KeySigner):
    """Signs each request with SDK-HMAC-SHA256.

    Every header the request carries when it is signed is listed in ``SignedHeaders`` (hop-by-hop
    headers excepted). An ``X-Sdk-Date`` already on the request is kept, so signatures can be
    pinned in tests; otherwise the current UTC time is used.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        security_token: str | None = None,
        project_id: str | None = None,
    ) -> None:
        super().__init__(access_key, secret_key, security_token=security_token)
        self.project_id = project_id

    def sign(self, request: httpx.Request) -> None:
        """Add the date, project, token and ``Authorization`` headers to ``request`` in place."""
        headers = request.headers
        if DATE_HEADER not in headers:
            headers[DATE_HEADER] = datetime.now(timezone.utc).strftime(DATE_FORMAT)
        if self.project_id and "X-Project-Id" not in headers:
            headers["X-Project-Id"] = self.project_id
        if self._security_token:
            headers["X-Security-Token"] = self._security_token
        if "Host" not in headers:
            headers["Host"] = request.url.netloc.decode("ascii")
        headers.pop("Authorization", None)
        # Send the query exactly as it is signed, as Huawei's SDK does: httpx writes a space as
        # "+", which the gateway's verifier would read back as a literal plus.
        pairs = request_query_pairs(request)
        request.url = request.url.copy_with(query=canonical_query(pairs).encode("ascii") or None)

        # Names with "_" are dropped by many proxies; Huawei's SDK never signs them.
        values = header_values(request, keep=lambda n: n not in _UNSIGNED_HEADERS and "_" not in n)
        signed = sorted(values)
        canonical = canonical_request(
            method=request.method,
            raw_path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            query=pairs,
            headers=values,
            signed_headers=signed,
            payload_hash=request_payload_hash(request),
        )
        sig = signature(self._secret_key, string_to_sign(headers[DATE_HEADER], canonical))
        headers["Authorization"] = authorization_header(self.access_key, signed, sig)


class TokenAuth(httpx.Auth):
    """Sends an IAM token as ``X-Auth-Token`` (no signature)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token
        yield request
