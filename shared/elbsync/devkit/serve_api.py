"""``elbsync serve-api``: http_api on a loopback port, so curl and HTTP tools can call it.

Each HTTP request becomes the APIG event FunctionGraph would hand the function (method, path,
lower-case headers, query parameters, the body as text or Base64, a request id), the handler in
``functions/http_api/index.py`` runs in this process, and its APIG reply becomes the HTTP reply.
With ``--emulator`` it starts the emulator's default world too, keeps state in a fresh temporary
directory, allows every pool, and prints a new API key; without it, the function's settings
come from the environment, as in the cloud.
"""

from __future__ import annotations

import argparse
import base64
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from elbsync.devkit.context import LocalContext
from elbsync.devkit.invoke import Handler, load_handler

__all__ = ["MAX_REQUEST_BYTES", "ApiServer", "apig_event", "main"]

#: Largest request read from a socket: APIG's own limit on a request body.
MAX_REQUEST_BYTES = 12 << 20


def apig_event(
    method: str, target: str, headers: dict[str, str], body: bytes, *, base64_body: bool = False
) -> dict[str, object]:
    """The APIG event for one HTTP request (``target``: path and query string)."""
    parts = urlsplit(target)
    text: str | None = None
    if not base64_body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return {
        "httpMethod": method,
        "path": parts.path or "/",
        "headers": {name.lower(): value for name, value in headers.items()},
        "queryStringParameters": dict(parse_qsl(parts.query, keep_blank_values=True)),
        "pathParameters": {},
        "requestContext": {"apiId": "local", "requestId": uuid.uuid4().hex, "stage": "RELEASE"},
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
    }


class ApiServer:
    """A threaded loopback HTTP server in front of an http_api handler."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 30.0,
        base64_body: bool = False,
    ) -> None:
        self.handler = handler or load_handler("http_api")
        self.timeout_s = timeout_s
        self.base64_body = base64_body
        self.server = ThreadingHTTPServer((host, port), self._request_class())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        return f"http://{host}:{port}"

    def _request_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self.send_error(413, "request body too large")
                    return
                body = self.rfile.read(length) if length > 0 else b""
                event = apig_event(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    base64_body=api.base64_body,
                )
                try:
                    reply = api.handler(event, LocalContext("http_api", timeout_s=api.timeout_s))
                except Exception:  # noqa: BLE001  the function logged it; APIG answers 502
                    self.send_error(502, "the function failed")
                    return
                self._reply(reply)

            def _reply(self, reply: object) -> None:
                if not isinstance(reply, dict):
                    self.send_error(502, "the handler did not answer in the APIG shape")
                    return
                status = reply.get("statusCode")
                text = reply.get("body") or ""
                data = (
                    base64.b64decode(str(text))
                    if reply.get("isBase64Encoded")
                    else str(text).encode("utf-8")
                )
                self.send_response(status if isinstance(status, int) else 502)
                headers = reply.get("headers")
                for name, value in headers.items() if isinstance(headers, dict) else ():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(str(name), str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

            def log_message(self, format: str, *args: object) -> None:
                return  # the function logs each request itself

        return Request

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="serve-api",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def _with_emulator() -> Iterator[tuple[str, str]]:
    """The default world on a free port, functions pointed at it; yields its URL and a key."""
    from elbsync.api.access import new_key
    from elbsync.devkit.local import functions_against, world_running

    key, entry = new_key()
    with ExitStack() as stack:
        cloud = stack.enter_context(world_running())
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="elbsync-api-")))
        stack.enter_context(
            functions_against(
                cloud.emulator,
                state,
                bindings='{"bindings": []}',
                clock=cloud.now,
                log_format="console",
                overrides={"api_keys": entry, "api_pools": "*"},
            )
        )
        yield cloud.emulator.base_url, key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elbsync serve-api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 when stopped with Ctrl-C or SIGTERM, 2 for bad options.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help=(
            "also start the emulator's default world, with fresh state, every pool allowed "
            "and a new API key"
        ),
    )
    parser.add_argument(
        "--base64",
        action="store_true",
        help="hand every body to the function Base64-encoded, as APIG does for binary bodies",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="function timeout, seconds (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None, *, ready: Callable[[str], None] | None = None) -> int:
    args = _parser().parse_args(argv)
    stopped = threading.Event()
    with ExitStack() as stack:
        lines = []
        if args.emulator:
            emulator_url, key = stack.enter_context(_with_emulator())
            lines += [f"emulator: {emulator_url}", f"API key: {key}"]
        server = stack.enter_context(
            ApiServer(
                host=args.host, port=args.port, timeout_s=args.timeout, base64_body=args.base64
            )
        )
        print(f"{server.url}/v1", flush=True)
        for line in lines:
            print(line, flush=True)
        print(f"try: curl -s {server.url}/v1/health", flush=True)
        if ready is not None:
            ready(server.url)
        for signum in (signal.SIGINT, signal.SIGTERM):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signum, lambda *_: stopped.set())
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
