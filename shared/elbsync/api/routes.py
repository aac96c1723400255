"""The routes of http_api, each a thin call into what member_events and the poller use.

=======  ===============================================  =====================================
GET      /v1/health                                       the function answers (no key needed)
GET      /v1/openapi.json                                 this API's OpenAPI 3.1 document
GET      /v1/pools/{pool_id}/members                      the pool's members and their health
PUT      /v1/pools/{pool_id}/members                      the pool's desired members (dry_run)
POST     /v1/pools/{pool_id}/members/batch-add            add members (and check jobs)
POST     /v1/pools/{pool_id}/members/batch-remove         remove members (drain or at once)
POST     /v1/pools/{pool_id}/members/batch-weights        give members new weights
POST     /v1/pools/{pool_id}/check-jobs                   start a member check job
GET      /v1/pools/{pool_id}/check-jobs/{job_id}          a check job and its rendered result
GET      /v1/pools/{pool_id}/operations/{operation_id}    a change answered 202, resumed
GET      /v1/waits                                        what waits, filtered and paged
=======  ===============================================  =====================================

Order of refusals: unknown route (404) or method (405), then the key (401), then the pool's
allow-list (403), then the body (413, 415, 400), then the work (404, 409, 422, 503).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import structlog

from elbsync import __version__
from elbsync.api.access import Access, ForbiddenError, UnauthorizedError
from elbsync.api.apig import (
    Answer,
    ApigRequest,
    HttpProblem,
    MethodNotAllowedError,
    RouteNotFoundError,
    parse_body,
    respond,
)
from elbsync.api.models import (
    ChangeReply,
    CheckFindingOut,
    CheckJobReply,
    ErrorReply,
    Health,
    ListenerHealth,
    PoolMember,
    PoolMembers,
    StartCheck,
    WaitItem,
    WaitList,
)
from elbsync.deadline import Deadline
from elbsync.errors import (
    ApiError,
    ConfigError,
    ElbsyncError,
    InputError,
    NotFoundError,
    is_transient,
)
from elbsync.runtime import Event, Invocation, Reply, printable_id

if TYPE_CHECKING:
    from elbsync.api.operations import Operations, Work
    from elbsync.flows.deployment import DeploymentEvent
    from elbsync.members.membership import Membership
    from elbsync.state.records import CheckJob, WaitingRecord

__all__ = [
    "CHANGE_MARGIN_S",
    "DEFAULT_PAGE",
    "MAX_EXAMINED",
    "MAX_PAGE",
    "OPENAPI_FILE",
    "READS",
    "REPLY_MARGIN_S",
    "ROUTES",
    "Api",
    "CheckJobNotFoundError",
    "Route",
    "error_response",
    "handle",
    "match",
    "status_of",
]

_log = structlog.get_logger("elbsync.api")

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
#: Records listed in one page of ``/v1/waits``, by default and at most; records examined
#: (read) for one page at most, so a filter that matches little still answers in time.
DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_EXAMINED = 1000
#: Time a read may take beyond ``ELBSYNC_API_SYNC_SECONDS``.
REPLY_MARGIN_S = 1.0
#: Time a change may take beyond it: the write round in flight sends and records its results
#: (the write path starts no round with less left: ``members.writes.ROUND_RESERVE_S``, spelled
#: out so a read does not import the write path; a test keeps the two in step).
CHANGE_MARGIN_S = 2.0
#: Routes that only read: bound by the synchronous budget as a whole.
READS = frozenset({"list_members", "show_check", "list_waits"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str
    public: bool = False

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    def params(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        mine = self.segments
        if len(mine) != len(segments):
            return None
        found = {}
        for want, got in zip(mine, segments, strict=True):
            if want.startswith("{"):
                found[want.strip("{}")] = got
            elif want != got:
                return None
        return found


ROUTES = (
    Route("GET", "/v1/health", "health", public=True),
    Route("GET", "/v1/openapi.json", "openapi", public=True),
    Route("GET", "/v1/pools/{pool_id}/members", "list_members"),
    Route("PUT", "/v1/pools/{pool_id}/members", "put_members"),
    Route("POST", "/v1/pools/{pool_id}/members/batch-add", "add_members"),
    Route("POST", "/v1/pools/{pool_id}/members/batch-remove", "remove_members"),
    Route("POST", "/v1/pools/{pool_id}/members/batch-weights", "weigh_members"),
    Route("POST", "/v1/pools/{pool_id}/check-jobs", "start_check"),
    Route("GET", "/v1/pools/{pool_id}/check-jobs/{job_id}", "show_check"),
    Route("GET", "/v1/pools/{pool_id}/operations/{operation_id}", "show_operation"),
    Route("GET", "/v1/waits", "list_waits"),
)


def match(request: ApigRequest) -> tuple[Route, dict[str, str]]:
    allowed: list[str] = []
    for route in ROUTES:
        params = route.params(request.segments)
        if params is None:
            continue
        if route.method == request.method:
            return route, params
        allowed.append(route.method)
    if allowed:
        methods = ", ".join(sorted(set(allowed)))
        raise MethodNotAllowedError(
            f"{request.method[:16]} is not allowed here; use {methods}", headers={"Allow": methods}
        )
    raise RouteNotFoundError("no such route; GET /v1/openapi.json lists them")


def _deployment_models() -> dict[str, type[DeploymentEvent]]:
    from elbsync.inbound.deployments import Deregister, Desired, Register, SetWeights

    return {
        "add_members": Register,
        "remove_members": Deregister,
        "weigh_members": SetWeights,
        "put_members": Desired,
    }


class Api:
    """One request's work."""

    def __init__(self, invocation: Invocation, request: ApigRequest) -> None:
        self.invocation = invocation
        self.request = request
        self.access = Access(invocation.settings)

    def call(self) -> Answer:
        route, params = match(self.request)
        self._bounded(REPLY_MARGIN_S if route.name in READS else CHANGE_MARGIN_S)
        if not route.public:
            self.access.authenticate(self.request.headers)
        if "pool_id" in params:
            self.access.check_pool(params["pool_id"])
        handler: Callable[..., Answer] = getattr(self, route.name)
        return handler(**params)

    def _bounded(self, margin_s: float) -> None:
        """Every remote call, retry wait and store access of the request ends within the
        synchronous budget plus ``margin_s`` (never past the function's deadline), so a slow or
        failing cloud gets a 503 or a 202 before API Gateway's backend timeout, not a 504."""
        bound = Deadline.after(self.invocation.settings.api_sync_seconds + margin_s)
        if bound.expires_at < self.invocation.deadline.expires_at:
            self.invocation = replace(self.invocation, deadline=bound)

    # -- public -----------------------------------------------------------------------------

    def health(self) -> Answer:
        return Answer(200, Health(version=__version__).model_dump())

    def openapi(self) -> Answer:
        return Answer(200, _openapi_document())

    # -- members ----------------------------------------------------------------------------

    def list_members(self, pool_id: str) -> Answer:
        from elbsync.members.planner import owned

        members = self.invocation.elb().list_members(pool_id)
        rows = [
            PoolMember(
                member_id=m.id,
                name=m.name,
                address=m.address,
                protocol_port=m.protocol_port,
                weight=m.weight,
                subnet_cidr_id=m.subnet_cidr_id,
                operating_status=m.operating_status,
                listeners=[ListenerHealth(**s.model_dump()) for s in m.status],
                owned=owned(m),
            )
            for m in members
        ]
        reply = PoolMembers(pool_id=pool_id, count=len(rows), members=rows)
        return Answer(200, reply.model_dump())

    def _changes(self, route: str, pool_id: str) -> Answer:
        body = self.request.json_body()
        model = _deployment_models()[route]
        parse_body(model, body, pool_id=pool_id)
        from elbsync.api.operations import Operations

        operations = Operations(self.invocation, headers=self.request.headers)
        return operations.run(
            route, pool_id, body, self._change_work(route, pool_id, operations, body)
        )

    def _change_work(self, route: str, pool_id: str, operations: Operations, body: object) -> Work:
        """The change ``body`` asks for, through the deployment flow, as an :class:`Answer`."""

        def work(operation_id: str) -> Answer:
            from elbsync.api.operations import queued
            from elbsync.flows.deployment import Deployment, outcome
            from elbsync.flows.member_events import NOTHING_DONE, load_bindings
            from elbsync.members.membership import membership_for

            event = cast(
                "DeploymentEvent", parse_body(_deployment_models()[route], body, pool_id=pool_id)
            )
            deployment = Deployment(
                membership_for(self.invocation, operations.store),
                load_bindings(self.invocation, required=False),
                max_remove_share=self.invocation.settings.max_remove_share,
                budget=operations.budget,
            )
            result = deployment.handle(
                event, cause=f"http {route} {operation_id}", key=operation_id
            )
            status, detail = outcome(result), result.reply()
            counts = detail.get("counts")
            failed = isinstance(counts, dict) and bool(counts.get("failed"))
            reply = ChangeReply.model_validate(
                {
                    "ok": status != "refused" and not failed,
                    "operation_id": operation_id,
                    "status": status,
                    **detail,
                    **({"reason": NOTHING_DONE} if status == "refused" else {}),
                }
            )
            if status == "queued":
                return queued(reply, pool_id, operation_id)
            return Answer(422 if status == "refused" else 200, reply.body())

        return work

    def put_members(self, pool_id: str) -> Answer:
        return self._changes("put_members", pool_id)

    def add_members(self, pool_id: str) -> Answer:
        return self._changes("add_members", pool_id)

    def remove_members(self, pool_id: str) -> Answer:
        return self._changes("remove_members", pool_id)

    def weigh_members(self, pool_id: str) -> Answer:
        return self._changes("weigh_members", pool_id)

    def show_operation(self, pool_id: str, operation_id: str) -> Answer:
        from elbsync.api.operations import Operations

        operations = Operations(self.invocation, headers={})
        works: dict[str, Callable[[object], Work]] = {
            route: partial(self._change_work, route, pool_id, operations)
            for route in _deployment_models()
        }
        works["start_check"] = partial(self._check_work, pool_id)
        return operations.resume(pool_id, operation_id, works)

    # -- check jobs -------------------------------------------------------------------------

    def _membership(self) -> Membership:
        from elbsync.members.membership import membership_for

        return membership_for(self.invocation)

    def start_check(self, pool_id: str) -> Answer:
        body = self.request.json_body()
        parse_body(StartCheck, body)
        from elbsync.api.operations import Operations

        operations = Operations(self.invocation, headers=self.request.headers)
        return operations.run("start_check", pool_id, body, self._check_work(pool_id, body))

    def _check_work(self, pool_id: str, body: object) -> Work:
        def work(operation_id: str) -> Answer:
            from elbsync.flows.deployment import CHECK_WINDOW

            spec = cast(StartCheck, parse_body(StartCheck, body))
            membership = self._membership()
            members = membership.elb.list_members(pool_id)
            if not any(m.id == spec.member_id for m in members):
                raise CheckJobNotFoundError("no such member in this pool", field="body.member_id")
            job = membership.checks.create(
                pool_id, spec.member_id, spec.listener_id, until=membership.clock() + CHECK_WINDOW
            )
            location = f"/v1/pools/{pool_id}/check-jobs/{job.job_id}"
            body_out = {**_check_reply(job), "operation_id": operation_id}
            return Answer(201, body_out, {"Location": location})

        return work

    def show_check(self, pool_id: str, job_id: str) -> Answer:
        from elbsync.state.errors import StateError
        from elbsync.state.layout import record_id
        from elbsync.state.records import CheckJob

        membership = self._membership()
        try:
            record_id(job_id, "job_id")
        except InputError:
            raise CheckJobNotFoundError("no such check job in this pool") from None
        job = membership.repo.load(CheckJob, job_id)
        if job is None or job.pool_id != pool_id:
            raise CheckJobNotFoundError("no such check job in this pool")
        if not job.terminal and job.next_poll_at <= membership.clock():
            try:
                finished = membership.checks.advance(job)
            except ElbsyncError as exc:  # a failed poll leaves the job to the poller
                if not is_transient(exc) and not isinstance(exc, StateError):
                    raise
                _log.info("check_job_not_polled", job_id=job_id, error=exc.to_dict())
            else:
                job = finished.job if finished else (membership.repo.load(CheckJob, job_id) or job)
        return Answer(200, _check_reply(job))

    # -- waits ------------------------------------------------------------------------------

    def list_waits(self) -> Answer:
        from elbsync.state.records import CheckJob, Drain, LifecycleAction, WriteIntent
        from elbsync.state.repository import StateRepository

        query = self.request.query
        models: dict[str, type[WaitingRecord]] = {
            "check_job": CheckJob,
            "lifecycle_action": LifecycleAction,
            "drain": Drain,
            "write_intent": WriteIntent,
        }
        kind = query.get("kind")
        if kind is not None and kind not in models:
            raise InputError(f"must be one of {', '.join(models)}", field="query.kind")
        pool_id = query.get("pool_id")
        if pool_id is not None:
            self.access.check_pool(pool_id)
        status = query.get("status")
        limit = _limit(query.get("limit"))
        after = _cursor(query.get("cursor"), models)
        kinds = [kind] if kind else list(models)
        if after is not None:
            kinds = kinds[kinds.index(after[0]) :] if after[0] in kinds else []
        repo = StateRepository(self.invocation.store(), clock=self.invocation.clock)
        items: list[WaitItem] = []
        examined = 0
        last: tuple[str, str] | None = None
        more = False
        for each in kinds:
            for rid in sorted(repo.pending_ids(models[each])):
                if after is not None and each == after[0] and rid <= after[1]:
                    continue
                if len(items) >= limit or examined >= MAX_EXAMINED:
                    more = True
                    break
                examined += 1
                last = (each, rid)
                record = repo.load_pending(models[each], rid)
                if record is None:
                    continue
                item = _wait_item(record)
                if not self.access.allows_all(set(item.pools)):
                    continue
                if pool_id is not None and pool_id not in item.pools:
                    continue
                if status is not None and item.status != status:
                    continue
                items.append(item)
            if more:
                break
        cursor = _encode_cursor(last) if more and last is not None else None
        return Answer(200, WaitList(items=items, next_cursor=cursor).model_dump(exclude_none=False))


class CheckJobNotFoundError(InputError):
    code = "not_found"


def _check_reply(job: CheckJob) -> dict[str, object]:
    reply = CheckJobReply(
        pool_id=job.pool_id,
        job_id=job.job_id,
        member_id=job.member_id,
        listener_id=job.listener_id,
        status=job.status,
        passed=job.passed,
        findings=[CheckFindingOut(**f.model_dump()) for f in job.findings],
        created_at=job.created_at.isoformat(),
        updated_at=job.updated_at.isoformat(),
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
    )
    return reply.model_dump()


def _wait_item(record: WaitingRecord) -> WaitItem:
    from elbsync.state.records import CheckJob, Drain, LifecycleAction, WriteIntent

    pools: set[str]
    detail: dict[str, object]
    if isinstance(record, CheckJob):
        pools = {record.pool_id}
        detail = {
            "job_id": record.job_id,
            "member_id": record.member_id,
            "listener_id": record.listener_id,
            "next_poll_at": record.next_poll_at.isoformat(),
        }
    elif isinstance(record, LifecycleAction):
        pools = {m.pool_id for m in record.members}
        detail = {
            "instance_id": record.instance_id,
            "scaling_group_id": record.scaling_group_id,
            "hook_type": record.hook_type,
            "members": len(record.members),
            "hook_deadline": record.hook_deadline.isoformat(),
        }
    elif isinstance(record, Drain):
        pools = {t.pool_id for t in record.targets}
        detail = {"members": len(record.targets)}
        if record.delete_after is not None:
            detail["delete_after"] = record.delete_after.isoformat()
    else:
        assert isinstance(record, WriteIntent)
        pools = {p.pool_id for p in record.pools}
        detail = {
            "queue": record.queue,
            "cause": record.cause,
            "changes": sum(len(p.changes) for p in record.pools),
        }
    return WaitItem(
        kind=record.kind,
        id=record.record_id,
        status=record.status,
        pools=sorted(pools),
        created_at=record.created_at.isoformat(),
        updated_at=record.updated_at.isoformat(),
        detail=detail,  # type: ignore[arg-type]
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InputError(f"must be a whole number from 1 to {MAX_PAGE}", field="query.limit")
    return int(raw)


def _encode_cursor(position: tuple[str, str]) -> str:
    text = json.dumps(list(position), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor(raw: str | None, kinds: Mapping[str, object]) -> tuple[str, str] | None:
    if raw is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] not in kinds
        or not isinstance(decoded[1], str)
    ):
        raise InputError("is not a cursor this API gave", field="query.cursor")
    return decoded[0], decoded[1]


@cache
def _openapi_document() -> dict[str, object]:
    return cast(dict[str, object], json.loads(OPENAPI_FILE.read_text(encoding="utf-8")))


# -- errors -------------------------------------------------------------------------------------


def status_of(error: ElbsyncError) -> tuple[int, dict[str, str]]:
    """The HTTP status (and headers) of a refusal or failure."""
    from elbsync.state.errors import EventInProgressError, IdempotencyKeyReusedError, StateError

    if isinstance(error, HttpProblem):
        return error.status, error.headers
    if isinstance(error, UnauthorizedError):
        return 401, {"WWW-Authenticate": 'Bearer realm="elbsync"'}
    if isinstance(error, ForbiddenError):
        return 403, {}
    if isinstance(error, IdempotencyKeyReusedError):
        return 422, {}
    if isinstance(error, EventInProgressError):
        return 409, {"Retry-After": str(max(1, round(error.retry_after_s)))}
    if isinstance(error, CheckJobNotFoundError | NotFoundError):
        return 404, {}
    if isinstance(error, InputError):
        return 400, {}
    if isinstance(error, ConfigError):
        return 500, {}
    if is_transient(error) or isinstance(error, StateError):
        retry = error.retry_after if isinstance(error, ApiError) and error.retry_after else 1
        return 503, {"Retry-After": str(max(1, round(retry)))}
    if isinstance(error, ApiError) and 400 <= error.status < 500:
        return 422, {}
    return 502, {}


def error_response(error: ElbsyncError, *, request_id: str) -> Reply:
    status, headers = status_of(error)
    detail = error.to_dict()
    if isinstance(error, ApiError) and status == 404:
        detail = {"code": "not_found", "message": "no such pool, or it has no such member"}
    reply = ErrorReply.model_validate({"error": detail, "request_id": request_id})
    return respond(
        status, reply.model_dump(exclude_none=True), request_id=request_id, headers=headers
    )


def handle(invocation: Invocation, event: Event) -> Reply:
    """The work of the http_api function: one APIG request, one APIG reply."""
    settings = invocation.settings
    request_id = printable_id(invocation.request_id) or "-"
    try:
        request = ApigRequest.from_event(
            event, request_id=request_id, base_path=settings.api_base_path
        )
        request_id = printable_id(request.request_id) or request_id
        answer = Api(invocation, request).call()
    except ElbsyncError as exc:
        log = _log.warning if exc.client_error else _log.error
        log("http_request_refused", error=exc.to_dict())
        return error_response(exc, request_id=request_id)
    headers = dict(answer.headers)
    if "Location" in headers:
        headers["Location"] = settings.api_base_path + headers["Location"]
    _log.info("http_request_answered", method=request.method[:16], status=answer.status)
    return respond(answer.status, answer.body, request_id=request_id, headers=headers)
