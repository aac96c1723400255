"""The ``s3://bucket/prefix`` backend: any S3-compatible endpoint, AWS Signature V4.

Create-if-absent is ``PUT`` with ``If-None-Match: *`` (412 when the key exists; 409 when another
conditional write to it is in flight). Listing is ListObjectsV2 paged with
``continuation-token``. Path-style addressing by default (``endpoint/bucket/key``), which every
S3-compatible server understands.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import httpx

from elbsync.state.bucket import BucketStore, ErrorReply, Method, child_text
from elbsync.state.store import ListedObject

__all__ = ["S3Store"]


class S3Store(BucketStore):
    request_id_header = "x-amz-request-id"
    scheme = "s3"

    def _list_params(self, prefix: str, marker: str | None, limit: int) -> list[tuple[str, str]]:
        params = [("list-type", "2"), ("max-keys", str(limit)), ("prefix", prefix)]
        return params if marker is None else [("continuation-token", marker), *params]

    def _next_marker(self, root: ElementTree.Element, page: tuple[ListedObject, ...]) -> str | None:
        return child_text(root, "NextContinuationToken") or None

    def _create_request(self, key: str, data: bytes) -> tuple[Method, str, dict[str, str]]:
        return "PUT", self.object_url(key), {"If-None-Match": "*"}

    def _means_exists(self, response: httpx.Response, reply: ErrorReply) -> bool:
        return response.status_code == 412 or (
            response.status_code == 409 and reply.code == "ConditionalRequestConflict"
        )
