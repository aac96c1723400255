"""ELB v3 backend servers (members) and member check jobs: every call to the ELB API.

Batch writes are split into calls of at most :data:`BATCH_LIMIT` members. Per-member outcomes
come back as :class:`MemberResult`; ``existed`` on add and ``not found`` on delete count as
success, so replaying a change is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from elbsync.errors import InputError, NoAnswerError
from elbsync.http.session import ApiSession, QueryValue, path_id, reply_list, reply_model
from elbsync.members.endpoint import SERVING, EndpointKey, endpoint_key

__all__ = [
    "BATCH_LIMIT",
    "PAGE_LIMIT",
    "CheckGroup",
    "CheckItem",
    "CheckSubject",
    "ElbClient",
    "Member",
    "MemberCheckReply",
    "MemberCheckResult",
    "MemberRef",
    "MemberResult",
    "MemberStatus",
    "MemberUpdate",
    "NewMember",
    "RetStatus",
    "chunks",
]

BATCH_LIMIT = 200
PAGE_LIMIT = 2000  # the API's largest page; fewer round trips when listing big pools

CheckSubject = Literal["all", "config", "networkAcl", "securityGroup"]
RetStatus = Literal["successful", "existed", "not found"]
T = TypeVar("T")


class _Reply(BaseModel):
    """A shape read from the API: unknown fields are ignored, new ones never break us."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class MemberStatus(_Reply):
    listener_id: str
    operating_status: str


class Member(_Reply):
    id: str
    address: str
    protocol_port: int | None = None
    name: str = ""
    weight: int = 1
    subnet_cidr_id: str | None = None
    operating_status: str = "UNKNOWN"
    status: list[MemberStatus] = Field(default_factory=list)
    instance_id: str | None = None
    member_type: str | None = None

    @property
    def key(self) -> EndpointKey:
        return endpoint_key(self.address, self.protocol_port)

    @property
    def serving(self) -> bool:
        """Whether ELB sends it traffic (on the listeners as a whole)."""
        return self.operating_status in SERVING

    def status_on(self, listener_id: str | None) -> str:
        """``operating_status`` for one listener, falling back to the member-wide value."""
        for item in self.status:
            if item.listener_id == listener_id:
                return item.operating_status
        return self.operating_status

    def serving_on(self, listener_id: str | None) -> bool:
        """Whether ELB sends it traffic from one listener (``None``: any)."""
        return self.status_on(listener_id) in SERVING


class MemberResult(_Reply):
    """One member's outcome in a batch reply."""

    id: str | None = None
    address: str | None = None
    protocol_port: int | None = None
    weight: int | None = None
    name: str | None = None
    ret_status: RetStatus = "successful"

    @property
    def key(self) -> EndpointKey:
        return endpoint_key(self.address, self.protocol_port)


class NewMember(BaseModel):
    """A member to add. Field names and limits are the API's."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    address: str = Field(min_length=1, max_length=64)
    protocol_port: int = Field(ge=1, le=65535)
    subnet_cidr_id: str | None = None
    weight: int | None = Field(default=None, ge=0, le=100)
    name: str | None = Field(default=None, max_length=255)


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(min_length=1)
    weight: int | None = Field(default=None, ge=0, le=100)
    name: str | None = Field(default=None, max_length=255)


class MemberRef(BaseModel):
    """A member to delete: by ``id``, or by ``address`` + ``protocol_port``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str | None = None
    address: str | None = None
    protocol_port: int | None = Field(default=None, ge=1, le=65535)

    @property
    def by_id(self) -> bool:
        return self.id is not None


class CheckItem(_Reply):
    name: str
    severity: str = "Tips"
    subject: str = ""
    reason: str | None = None
    reason_template: str | None = None
    reason_params: list[str] = Field(default_factory=list)


class CheckGroup(_Reply):
    check_result: bool | None = None
    check_status: str | None = None
    check_items: list[CheckItem] = Field(default_factory=list)


class MemberCheckResult(_Reply):
    config: CheckGroup | None = None
    acl: CheckGroup | None = None
    security_group: CheckGroup | None = None

    def groups(self) -> dict[str, CheckGroup]:
        found = {"config": self.config, "acl": self.acl, "security_group": self.security_group}
        return {name: group for name, group in found.items() if group is not None}


class MemberCheckReply(_Reply):
    job_id: str
    status: Literal["processing", "processed", "failed"]
    member_id: str | None = None
    listener_id: str | None = None
    check_item_total_num: int | None = None
    check_item_finished_num: int | None = None
    result: MemberCheckResult | None = None


def chunks(items: Sequence[T], size: int = BATCH_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ElbClient:
    """ELB v3 member operations for one project."""

    def __init__(self, session: ApiSession, *, endpoint: str, project_id: str) -> None:
        self._session = session
        self._base = f"{endpoint.rstrip('/')}/v3/{path_id(project_id, 'project_id')}/elb"

    def _pool_url(self, pool_id: str, suffix: str = "") -> str:
        return f"{self._base}/pools/{path_id(pool_id, 'pool_id')}/members{suffix}"

    def list_members(
        self,
        pool_id: str,
        *,
        page_size: int = PAGE_LIMIT,
        **filters: QueryValue,
    ) -> list[Member]:
        """Every member of a pool matching ``filters`` (repeatable: pass a list), all pages."""
        url = self._pool_url(pool_id)
        found: list[Member] = []
        marker: str | None = None
        while True:
            params: dict[str, QueryValue] = {**filters, "limit": page_size}
            if marker:
                params["marker"] = marker
            body = self._session.call("GET", url, operation="elb.list_members", params=params)
            page = reply_list(body, "members", Member, "elb.list_members")
            found.extend(page)
            page_info = body.get("page_info")
            next_marker = page_info.get("next_marker") if isinstance(page_info, dict) else None
            if not page or not next_marker or next_marker == marker:
                return found
            marker = str(next_marker)

    def batch_add(
        self, pool_id: str, members: Sequence[NewMember], *, retry_busy: bool = True
    ) -> list[MemberResult]:
        return self._batch(
            pool_id, "batch-add", "elb.batch_add", members, expect=(201, 200), retry_busy=retry_busy
        )

    def batch_update(
        self, pool_id: str, updates: Sequence[MemberUpdate], *, retry_busy: bool = True
    ) -> list[MemberResult]:
        return self._batch(
            pool_id,
            "batch-update",
            "elb.batch_update",
            updates,
            expect=(200,),
            retry_busy=retry_busy,
        )

    def batch_delete(
        self, pool_id: str, refs: Sequence[MemberRef], *, retry_busy: bool = True
    ) -> list[MemberResult]:
        """Delete by id or by address + port; the API refuses the two mixed in one call.

        ``retry_busy=False`` hands a busy refusal (409 ``ELB.8907``) back at once to a caller
        that paces its writes itself; otherwise it is retried with backoff like a 5xx.
        """
        kinds = {ref.by_id for ref in refs}
        if len(kinds) > 1:
            raise InputError(
                "delete by id or by address+port, not both in one batch", field="members"
            )
        for index, ref in enumerate(refs):
            if not ref.by_id and (ref.address is None or ref.protocol_port is None):
                raise InputError(
                    "needs id, or address and protocol_port", field=f"members[{index}]"
                )
        return self._batch(
            pool_id, "batch-delete", "elb.batch_delete", refs, expect=(200,), retry_busy=retry_busy
        )

    def _batch(
        self,
        pool_id: str,
        action: str,
        operation: str,
        items: Sequence[BaseModel],
        *,
        expect: Sequence[int],
        retry_busy: bool,
    ) -> list[MemberResult]:
        url = self._pool_url(pool_id, f"/{action}")
        results: list[MemberResult] = []
        for chunk in chunks(items):
            payload = {"members": [item.model_dump(exclude_none=True) for item in chunk]}
            body = self._session.call(
                "POST",
                url,
                operation=operation,
                json_body=payload,
                expect=expect,
                retry_busy=retry_busy,
            )
            results.extend(reply_list(body, "members", MemberResult, operation))
        return results

    def create_check_job(
        self, member_id: str, listener_id: str, subject: CheckSubject = "all"
    ) -> str:
        """Start a member check job; returns its job id."""
        url = f"{self._base}/members/{path_id(member_id, 'member_id')}/health-check"
        payload = {
            "member_check": {"listener_id": path_id(listener_id, "listener_id"), "subject": subject}
        }
        body = self._session.call(
            "POST", url, operation="elb.create_check_job", json_body=payload, expect=(201, 200)
        )
        check = body.get("member_check")
        job_id = check.get("job_id") if isinstance(check, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise NoAnswerError(
                "reply has no member_check.job_id", operation="elb.create_check_job"
            )
        return job_id

    def show_check_job(self, job_id: str) -> MemberCheckReply:
        url = f"{self._base}/members/check/jobs/{path_id(job_id, 'job_id')}"
        body = self._session.call("GET", url, operation="elb.show_check_job")
        check = body.get("member_check")
        if not isinstance(check, dict):
            raise NoAnswerError("reply has no member_check", operation="elb.show_check_job")
        return reply_model(MemberCheckReply, {"job_id": job_id, **check}, "elb.show_check_job")
