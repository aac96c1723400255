"""OBS's native request signature: ``Authorization: OBS <AK>:<base64 HMAC-SHA1>``.

StringToSign (PLATFORM.md, "OBS"): the verb, Content-MD5, Content-Type and Date lines, one
``name:value`` line per ``x-obs-*`` header (sorted, names lower-cased), then the canonical
resource ``/<bucket>/<key>`` followed by the signed sub-resources of the query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from urllib.parse import quote, unquote

import httpx

from elbsync.http.auth.base import KeySigner, header_values

__all__ = [
    "DATE_HEADER",
    "HEADER_PREFIX",
    "META_PREFIX",
    "SECURITY_TOKEN_HEADER",
    "SUB_RESOURCES",
    "ObsAuth",
    "canonical_resource",
    "raw_query_items",
    "signature",
    "string_to_sign",
    "virtual_host_bucket",
]

HEADER_PREFIX = "x-obs-"
META_PREFIX = "x-obs-meta-"
DATE_HEADER = "x-obs-date"
SECURITY_TOKEN_HEADER = "x-obs-security-token"  # noqa: S105 (a header name)

# Query parameters that are part of the signed resource (compared lower-cased); any other
# parameter (prefix, marker, max-keys, ...) is not signed. Parameters named x-obs-* are signed too.
SUB_RESOURCES = frozenset(
    {
        "acl",
        "append",
        "backtosource",
        "bucketstatus",
        "cors",
        "delete",
        "deletebucket",
        "directcoldaccess",
        "dispolicy",
        "encryption",
        "fileinterface",
        "inventory",
        "length",
        "lifecycle",
        "location",
        "logging",
        "metadata",
        "modify",
        "name",
        "notification",
        "object-lock",
        "obscompresspolicy",
        "partnumber",
        "policy",
        "policystatus",
        "position",
        "publicaccessblock",
        "quota",
        "rename",
        "replication",
        "requestpayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "retention",
        "storageclass",
        "storageinfo",
        "storagepolicy",
        "tagging",
        "torrent",
        "truncate",
        "uploadid",
        "uploads",
        "versionid",
        "versioning",
        "versions",
        "website",
        "x-image-process",
        "x-image-save-bucket",
        "x-image-save-object",
        "x-oss-process",
    }
)


def raw_query_items(raw_query: str) -> list[tuple[str, str | None]]:
    """Decoded ``(name, value)`` pairs; ``None`` for a bare name such as ``?append``."""
    items: list[tuple[str, str | None]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        items.append((unquote(name), unquote(value) if sep else None))
    return items


def canonical_resource(path: str, sub_resources: Iterable[tuple[str, str | None]]) -> str:
    """``path`` (``/<bucket>/<key>`` as on the wire) plus the signed sub-resources."""
    signed = sorted(
        (
            (name, value)
            for name, value in sub_resources
            if name.lower() in SUB_RESOURCES or name.lower().startswith(HEADER_PREFIX)
        ),
        key=lambda item: item[0],
    )
    if not signed:
        return path
    parts = [quote(n, safe="/") if v is None else f"{quote(n, safe='/')}={v}" for n, v in signed]
    return f"{path}?{'&'.join(parts)}"


def string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    """The text OBS signs. ``headers`` must have lower-case names."""
    date = "" if DATE_HEADER in headers else headers.get("date", "")
    lines = [
        method.upper(),
        headers.get("content-md5", ""),
        headers.get("content-type", ""),
        date,
    ]
    obs_lines = []
    for name in sorted(n for n in headers if n.startswith(HEADER_PREFIX)):
        value = headers[name].strip() if name.startswith(META_PREFIX) else headers[name]
        obs_lines.append(f"{name}:{value}\n")
    return "\n".join(lines) + "\n" + "".join(obs_lines) + resource


def signature(secret_key: str, to_sign: str) -> str:
    """Base64 of HMAC-SHA1 keyed with the SK."""
    digest = hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def virtual_host_bucket(host: str, bucket: str | None) -> str | None:
    """The bucket named by a virtual-host-style ``host``, or ``None`` for a path-style request.

    With ``bucket`` known, the host must start with ``<bucket>.``. Without it, a host of the form
    ``<bucket>.obs.<region>...`` (OBS's own endpoints) is recognised.
    """
    host = host.lower()
    if bucket is not None:
        return bucket if host.startswith(f"{bucket.lower()}.") else None
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) >= 3 and labels[1].startswith("obs"):
        return labels[0]
    return None


class ObsAuth(KeySigner):
    """Signs each request with OBS's native signature.

    A ``Date`` or ``x-obs-date`` header already on the request is kept, so signatures can be
    pinned in tests; otherwise ``Date`` is set to the current time. With temporary credentials
    the token travels in ``x-obs-security-token``, added before signing (so it is signed).
    ``bucket`` tells virtual-host requests (``<bucket>.<endpoint>``) from path-style ones; without
    it the bucket is read from hosts shaped like OBS's endpoints.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        security_token: str | None = None,
        bucket: str | None = None,
    ) -> None:
        super().__init__(access_key, secret_key, security_token=security_token)
        self.bucket = bucket

    def __repr__(self) -> str:
        return f"ObsAuth(access_key={self.access_key[:4]}…, bucket={self.bucket!r})"

    def string_to_sign(self, request: httpx.Request) -> str:
        """What :meth:`sign` signs for ``request`` as it is now (for tests and diagnostics)."""
        values = header_values(request)
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
        bucket = virtual_host_bucket(request.url.host, self.bucket)
        path = f"/{bucket}{raw_path}" if bucket is not None else raw_path
        query = raw_query_items(request.url.query.decode("ascii"))
        return string_to_sign(request.method, values, canonical_resource(path, query))

    def sign(self, request: httpx.Request) -> None:
        """Add the date, token and ``Authorization`` headers to ``request`` in place."""
        headers = request.headers
        if "Date" not in headers and DATE_HEADER not in headers:
            headers["Date"] = formatdate(usegmt=True)
        if self._security_token:
            headers[SECURITY_TOKEN_HEADER] = self._security_token
        headers.pop("Authorization", None)
        sig = signature(self._secret_key, self.string_to_sign(request))
        headers["Authorization"] = f"OBS {self.access_key}:{sig}"
