"""The emulator's HTTP server: one loopback port for ELB, Auto Scaling, ECS and the admin API.

Every API request goes the same way: route to an operation, count it, apply injected faults and
latency, authenticate, then run the service handler under the cloud's lock and answer in that
service's JSON shape with a ``request_id`` (body for ELB, ``X-Request-Id`` header for all).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, unquote

from elbsync.devkit.emulator import admin, autoscaling, ecs, elb
from elbsync.devkit.emulator.clock import VirtualClock, iso
from elbsync.devkit.emulator.cloud import Cloud, new_request_id
from elbsync.devkit.emulator.faults import LOST_REPLIES, FaultBook
from elbsync.devkit.emulator.replies import Call, EmulatedApiError, ErrorStyle, JsonObject, Reply
from elbsync.devkit.emulator.verify import (
    SignedRequest,
    authenticate,
    project_failure,
    project_mismatch,
)
from elbsync.devkit.emulator.world import World, load_world
from elbsync.http.auth.base import header_text

__all__ = ["ROUTES", "Emulator", "Route", "ServiceHandler", "match_route"]

ServiceHandler = Callable[[Cloud, Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    style: ErrorStyle
    handler: ServiceHandler


def _route(method: str, template: str, operation: str, handler: ServiceHandler) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    style: ErrorStyle = "elb" if operation.startswith("elb.") else "legacy"
    return Route(method, re.compile(f"^{regex}/?$"), operation, style, handler)


_ELB = "/v3/{project_id}/elb"
_AS = "/autoscaling-api/v1/{project_id}/scaling_instance_hook/{scaling_group_id}"
ROUTES: tuple[Route, ...] = (
    _route("GET", _ELB + "/pools/{pool_id}/members", "elb.list_members", elb.list_members),
    _route("POST", _ELB + "/pools/{pool_id}/members/batch-add", "elb.batch_add", elb.batch_add),
    _route(
        "POST", _ELB + "/pools/{pool_id}/members/batch-update", "elb.batch_update", elb.batch_update
    ),
    _route(
        "POST", _ELB + "/pools/{pool_id}/members/batch-delete", "elb.batch_delete", elb.batch_delete
    ),
    _route("GET", _ELB + "/members/check/jobs/{job_id}", "elb.show_check_job", elb.show_check_job),
    _route(
        "POST",
        _ELB + "/members/{member_id}/health-check",
        "elb.create_check_job",
        elb.create_check_job,
    ),
    _route("PUT", _AS + "/callback", "as.callback", autoscaling.callback),
    _route("GET", _AS + "/list", "as.list_hanging", autoscaling.list_hanging),
    _route(
        "GET",
        "/v1/{project_id}/cloudservers/{server_id}/os-interface",
        "ecs.list_interfaces",
        ecs.list_interfaces,
    ),
)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is not None and route.method == method:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


class Emulator:
    """The emulated cloud behind an HTTP server; start it, use ``base_url``, stop it.

    ``with Emulator(load_world()) as emulator: ...`` starts on a free loopback port and stops on
    exit.
    """

    def __init__(self, world: World | None = None, *, clock: VirtualClock | None = None) -> None:
        self.initial_world = world if world is not None else load_world()
        self.clock = clock or VirtualClock()
        self.cloud = Cloud(self.initial_world, self.clock)
        self.faults = FaultBook()
        self.faults.reset(list(self.initial_world.faults), self.initial_world.seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def reset(self, world: World | None = None) -> None:
        """Back to the world file (or to ``world``): members, jobs, actions, faults, clock."""
        chosen = world if world is not None else self.initial_world
        if world is not None:
            self.initial_world = world
        with self.cloud.lock:
            self.clock.reset()
            self.cloud.load(chosen)
            self.faults.reset(list(chosen.faults), chosen.seed)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            return self.base_url
        server = _Server((host, port), _Handler)
        server.emulator = self
        self._server = server
        bound_host, bound_port = server.server_address[:2]
        shown = bound_host if isinstance(bound_host, str) else bound_host.decode()
        self.base_url = f"http://{shown}:{bound_port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "elbsync-emulator"
    sys_version = ""
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add about 40 ms to every keep-alive reply.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is at ``GET /_emulator/requests``."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length or not length.isdigit():
            return b""
        return self.rfile.read(int(length))

    def _serve(self) -> None:
        emulator = self.server.emulator
        raw_path, _, raw_query = self.path.partition("?")
        body = self._read_body()
        if raw_path == admin.PREFIX or raw_path.startswith(admin.PREFIX + "/"):
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
            status, document = admin.handle(emulator, self.command, raw_path, query, body)
            self._send(status, document, {})
            return
        request_id = new_request_id()
        found = match_route(self.command, raw_path)
        if found is None:
            failure = EmulatedApiError(
                404, "APIGW.0101", "The API does not exist or has not been published"
            )
            self._fail(failure, request_id, operation=None)
            return
        route, params = found
        outcome = emulator.faults.receive(route.operation)
        delay_ms = emulator.cloud.world.behaviour.latency_ms + outcome.latency_ms
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        if outcome.kind == "drop":
            self._record(route.operation, None, request_id, outcome.rule_id)
            self._drop()
            return
        if outcome.kind is not None and outcome.kind not in LOST_REPLIES:
            headers = {}
            if outcome.retry_after_s is not None:
                headers["Retry-After"] = str(outcome.retry_after_s)
            style: ErrorStyle = "elb" if outcome.kind == "throttle" else route.style
            message = (
                "The throttling threshold has been reached"
                if outcome.kind == "throttle"
                else "Injected server error"
            )
            failure = EmulatedApiError(
                outcome.status, outcome.error_code, message, style=style, headers=headers
            )
            self._fail(failure, request_id, route.operation, outcome.rule_id)
            return
        try:
            reply = self._dispatch(emulator, route, params, raw_path, raw_query, body)
        except EmulatedApiError as failure:
            if outcome.kind == "lose_reply":
                status = failure.status
                self._record(route.operation, status, request_id, outcome.rule_id, lost=True)
                self._drop()
                return
            self._fail(failure, request_id, route.operation)
            return
        payload: JsonObject | None = reply.body
        if reply.body is not None and route.style == "elb":
            payload = {**reply.body, "request_id": request_id}
        # Recorded before the reply leaves, so a client that has its answer sees it logged.
        lost = outcome.kind in LOST_REPLIES
        self._record(route.operation, reply.status, request_id, outcome.rule_id, lost=lost)
        if outcome.kind == "lose_reply":
            self._drop()
            return
        if outcome.kind == "slow_reply":
            time.sleep(outcome.reply_delay_ms / 1000.0)
            # The caller has usually given up by now and closed the connection.
            with contextlib.suppress(OSError):
                self._send(reply.status, payload, {"X-Request-Id": request_id, **reply.headers})
            self.close_connection = True
            return
        self._send(reply.status, payload, {"X-Request-Id": request_id, **reply.headers})

    def _dispatch(
        self,
        emulator: Emulator,
        route: Route,
        params: dict[str, str],
        raw_path: str,
        raw_query: str,
        body: bytes,
    ) -> Reply:
        cloud = emulator.cloud
        query = parse_qsl(raw_query, keep_blank_values=True)
        signed = SignedRequest(
            method=self.command,
            raw_path=raw_path,
            query=query,
            headers=self._header_values(),
            body=body,
        )
        principal = authenticate(
            signed,
            credentials=cloud.world.credentials,
            tokens={t.token: t.project_id for t in cloud.world.iam_tokens},
            max_skew_s=cloud.world.behaviour.max_skew_s,
        )
        mismatch = project_mismatch(
            principal, params.get("project_id"), signed.header("x-project-id")
        )
        if mismatch is not None:
            if route.operation.startswith("as."):
                raise EmulatedApiError(400, "AS.0008", "Incorrect ProjectID.", style="legacy")
            raise project_failure(mismatch)
        call = Call(
            operation=route.operation,
            project_id=principal.project_id,
            params=params,
            query=query,
            body=body,
        )
        with cloud.lock:
            now = cloud.now()
            autoscaling.apply_timeouts(cloud, now)
            try:
                return route.handler(cloud, call)
            except EmulatedApiError:
                raise
            except Exception as exc:
                print(f"emulator: {route.operation} failed: {exc!r}", file=sys.stderr)
                raise EmulatedApiError(500, "SYS.0500", "internal error in the emulator") from exc

    def _header_values(self) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            text = header_text(value.encode("latin-1", errors="replace"))
            values.setdefault(name.lower(), []).append(text)
        return values

    def _fail(
        self,
        failure: EmulatedApiError,
        request_id: str,
        operation: str | None,
        rule_id: int | None = None,
    ) -> None:
        if operation is not None:
            self._record(operation, failure.status, request_id, rule_id, failure.code)
        headers = {"X-Request-Id": request_id, **failure.headers}
        self._send(failure.status, failure.body(request_id), headers)

    def _record(
        self,
        operation: str,
        status: int | None,
        request_id: str,
        rule_id: int | None,
        error_code: str | None = None,
        *,
        lost: bool = False,
    ) -> None:
        emulator = self.server.emulator
        emulator.faults.record(
            {
                "at": iso(emulator.clock.now()),
                "operation": operation,
                "method": self.command,
                "path": self.path,
                "status": status,
                "error_code": error_code,
                "request_id": request_id,
                "fault_id": rule_id,
                "dropped": status is None,
                "reply_lost": lost,
            }
        )

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, document: JsonObject | None, headers: dict[str, str]) -> None:
        payload = b"" if document is None else json.dumps(document).encode("utf-8")
        self.send_response(status)
        if document is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)
