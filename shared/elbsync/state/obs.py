"""The ``obs://bucket/prefix`` backend: Huawei OBS with its native signature.

Virtual-host addressing (``https://<bucket>.<ELBSYNC_OBS_ENDPOINT host>/<key>``), ListObjects
V1 paged with ``marker``, and create-if-absent as an append at position 0
(``POST /<key>?append&position=0``), which OBS refuses with 409 when the key already exists.
OBS documents no conditional PUT, so nothing else here relies on one.

Per OBS's "Appending an Object" page, a later PUT overwrites an appendable object (it becomes a
normal one), which the records rely on; appending is unavailable in buckets with cross-region
replication or WORM and in parallel file systems, so the state bucket must be a plain bucket.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import httpx

from elbsync.state.bucket import BucketStore, ErrorReply, Method, child_text
from elbsync.state.store import ListedObject

__all__ = ["ObsStore"]


class ObsStore(BucketStore):
    request_id_header = "x-obs-request-id"
    scheme = "obs"

    def _list_params(self, prefix: str, marker: str | None, limit: int) -> list[tuple[str, str]]:
        params = [("max-keys", str(limit)), ("prefix", prefix)]
        return params if marker is None else [("marker", marker), *params]

    def _next_marker(self, root: ElementTree.Element, page: tuple[ListedObject, ...]) -> str | None:
        # NextMarker is the documented answer; the last key returned is what it equals.
        return child_text(root, "NextMarker") or (self.prefix + page[-1].key if page else None)

    def _create_request(self, key: str, data: bytes) -> tuple[Method, str, dict[str, str]]:
        return "POST", f"{self.object_url(key)}?append&position=0", {}

    def _means_exists(self, response: httpx.Response, reply: ErrorReply) -> bool:
        # 409 ObjectNotAppendable (a normal object is there) or PositionNotEqualToLength (an
        # appendable one is): either way the key is taken.
        return response.status_code == 409
