"""Request authentication, verified the way Huawei's API gateway does it.

An SDK-HMAC-SHA256 request is checked by rebuilding its canonical request with the very functions
the client signer uses (:mod:`elbsync.http.auth.sdk_hmac`), over exactly the headers the client
lists in ``SignedHeaders``. An ``X-Auth-Token`` request is checked against the world's IAM tokens.
Either way the caller ends up with one project, which must be the project the request addresses.

Failures answer as the gateway does: 401 ``APIGW.0301`` "Incorrect IAM authentication
information" with a short reason that never repeats a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from elbsync.devkit.emulator.replies import EmulatedApiError
from elbsync.devkit.emulator.world import Credential
from elbsync.http.auth.sdk_hmac import (
    CONTENT_SHA256_HEADER,
    DATE_FORMAT,
    DATE_HEADER,
    canonical_query,
    canonical_request,
    parse_authorization,
    signature,
    string_to_sign,
)

__all__ = [
    "AUTH_ERROR_CODE",
    "Principal",
    "SignedRequest",
    "authenticate",
    "project_failure",
    "project_mismatch",
]

AUTH_ERROR_CODE = "APIGW.0301"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project the credential belongs to, and how it was proven."""

    project_id: str
    method: str
    access_key: str | None = None


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that the signature covers.

    ``headers`` maps lower-case names to every value received for that name, already decoded
    with :func:`elbsync.http.auth.base.header_text`.
    """

    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return ",".join(values) if values else None


def _unauthorized(reason: str) -> EmulatedApiError:
    return EmulatedApiError(
        401, AUTH_ERROR_CODE, f"Incorrect IAM authentication information: {reason}"
    )


def authenticate(
    request: SignedRequest,
    *,
    credentials: Iterable[Credential],
    tokens: Mapping[str, str],
    now: datetime | None = None,
    max_skew_s: float = 900.0,
) -> Principal:
    """The caller of ``request``, or :class:`EmulatedApiError` (401) when it cannot be proven."""
    authorization = request.header("authorization")
    if authorization:
        by_key = {c.access_key: c for c in credentials}
        return _verify_signature(request, authorization, by_key, now, max_skew_s)
    token = request.header("x-auth-token")
    if token:
        project = tokens.get(token)
        if project is None:
            raise _unauthorized("the token is unknown or expired")
        return Principal(project_id=project, method="token")
    raise _unauthorized("no Authorization or X-Auth-Token header")


def _verify_signature(
    request: SignedRequest,
    authorization: str,
    by_key: Mapping[str, Credential],
    now: datetime | None,
    max_skew_s: float,
) -> Principal:
    parsed = parse_authorization(authorization)
    if parsed is None:
        raise _unauthorized("Authorization is not an SDK-HMAC-SHA256 header")
    credential = by_key.get(parsed.access_key)
    if credential is None:
        raise _unauthorized("the access key does not exist")
    signed = [name.lower() for name in parsed.signed_headers]
    if signed != sorted(set(signed)):
        raise _unauthorized("SignedHeaders must be lower-case, sorted and unique")
    values: dict[str, str] = {}
    for name in signed:
        value = request.header(name)
        if value is None:
            raise _unauthorized(f"signed header {name!r} is missing from the request")
        values[name] = value
    _check_date(request.header(DATE_HEADER), max_skew_s, now)
    if DATE_HEADER.lower() not in values:
        raise _unauthorized(f"{DATE_HEADER} must be a signed header")
    if credential.security_token is not None:
        token = request.header("x-security-token")
        if token is None or not hmac.compare_digest(token, credential.security_token):
            raise _unauthorized("the security token is missing or wrong")
        if "x-security-token" not in values:
            raise _unauthorized("X-Security-Token must be a signed header")
    canonical = canonical_request(
        method=request.method,
        raw_path=request.raw_path,
        query=request.query,
        headers=values,
        signed_headers=signed,
        payload_hash=_payload_hash(request),
    )
    date = values["x-sdk-date"]
    candidates = [canonical]
    alternative = _wire_order_variant(canonical, request.query)
    if alternative is not None:
        candidates.append(alternative)
    if not any(
        hmac.compare_digest(
            signature(credential.secret_key, string_to_sign(date, c)), parsed.signature
        )
        for c in candidates
    ):
        raise _unauthorized("verify aksk signature fail")
    return Principal(
        project_id=credential.project_id, method="aksk", access_key=credential.access_key
    )


def _wire_order_variant(canonical: str, query: list[tuple[str, str]]) -> str | None:
    """The canonical request with repeated query values kept in the order they were sent.

    Huawei's Python SDK sorts the values of a repeated parameter before turning them into text
    (``protocol_port=80&protocol_port=443``) and sends them in that order, while the canonical
    form sorts them as text (``443`` before ``80``). Which one the gateway rebuilds is not
    documented, so both are accepted; ``None`` when they cannot differ.
    """
    by_key = sorted(query, key=lambda pair: pair[0])
    if by_key == sorted(query):
        return None
    method, uri, _, rest = canonical.split("\n", 3)
    wire = "&".join(canonical_query([pair]) for pair in by_key)
    return "\n".join([method, uri, wire, rest])


def _payload_hash(request: SignedRequest) -> str:
    actual = hashlib.sha256(request.body).hexdigest()
    declared = request.header(CONTENT_SHA256_HEADER)
    if declared is None or declared == _UNSIGNED_PAYLOAD:
        return declared or actual
    if declared.lower() != actual:
        raise _unauthorized(f"{CONTENT_SHA256_HEADER} does not match the body")
    return declared


def _check_date(value: str | None, max_skew_s: float, now: datetime | None) -> None:
    if value is None:
        raise _unauthorized(f"{DATE_HEADER} is missing")
    try:
        signed_at = datetime.strptime(value.strip(), DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _unauthorized(f"{DATE_HEADER} is not in {DATE_FORMAT} format") from None
    current = now or datetime.now(timezone.utc)
    if abs((current - signed_at).total_seconds()) > max_skew_s:
        raise _unauthorized(f"{DATE_HEADER} is more than {int(max_skew_s // 60)} minutes off")


def project_mismatch(
    principal: Principal, path_project: str | None, header_project: str | None
) -> str | None:
    """Why the addressed project is not the credential's project, or ``None`` when it is."""
    for where, project in (("path", path_project), ("X-Project-Id", header_project)):
        if project is not None and project != principal.project_id:
            return f"the project in the {where} is not the credential's project"
    return None


def project_failure(reason: str) -> EmulatedApiError:
    return _unauthorized(reason)
