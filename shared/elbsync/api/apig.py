"""The API Gateway (APIG) event a request arrives as, its body read into a model, and the reply
shape APIG expects.

APIG hands the function ``httpMethod``, ``path``, lower-case ``headers``,
``queryStringParameters``, ``pathParameters``, ``requestContext`` and ``body`` (Base64 when
``isBase64Encoded``); it wants ``statusCode``, ``headers``, ``body`` (a string) and
``isBase64Encoded`` back. Routes are read from ``path`` itself, so they do not depend on how the
API's parameters were declared in APIG; a base path APIG puts in front (``ELBSYNC_API_BASE_PATH``)
is taken off first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, cast
from urllib.parse import unquote

from pydantic import BaseModel, JsonValue, ValidationError

from elbsync.errors import ElbsyncError, InputError
from elbsync.inbound.limits import excerpt, field_path, json_kind, load_json

__all__ = [
    "JSON",
    "MAX_BODY_BYTES",
    "Answer",
    "ApigRequest",
    "BodyError",
    "BodyTooLargeError",
    "HttpProblem",
    "MethodNotAllowedError",
    "NotJsonError",
    "RouteNotFoundError",
    "parse_body",
    "respond",
]

#: Largest request body read, decoded: 1,000 members inline are about 150 KB; longer lists go
#: by reference (``members_key``).
MAX_BODY_BYTES = 1 << 20
JSON = "application/json"


class HttpProblem(ElbsyncError):
    """A refusal with its own HTTP status (and headers), before any work."""

    status: ClassVar[int] = 400
    client_error = True

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})


class RouteNotFoundError(HttpProblem):
    code = "route_not_found"
    status = 404


class MethodNotAllowedError(HttpProblem):
    code = "method_not_allowed"
    status = 405


class BodyTooLargeError(HttpProblem):
    code = "body_too_large"
    status = 413


class NotJsonError(HttpProblem):
    code = "unsupported_media_type"
    status = 415


@dataclass(frozen=True)
class ApigRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    raw_body: str
    base64: bool
    request_id: str
    segments: tuple[str, ...] = field(default=())

    @classmethod
    def from_event(
        cls, event: Mapping[str, object], *, request_id: str, base_path: str = ""
    ) -> ApigRequest:
        method = event.get("httpMethod")
        path = event.get("path")
        if not isinstance(method, str) or not method:
            raise InputError(
                "is required: an API Gateway request names its method", field="httpMethod"
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise InputError("is required: an API Gateway request names its path", field="path")
        if base_path and (path == base_path or path.startswith(f"{base_path}/")):
            path = path[len(base_path) :] or "/"
        context = event.get("requestContext")
        if isinstance(context, Mapping) and isinstance(context.get("requestId"), str):
            request_id = str(context["requestId"])[:128] or request_id
        body = event.get("body")
        if body is not None and not isinstance(body, str):
            raise InputError(f"must be a string, not {json_kind(body)}", field="body")
        return cls(
            method=method.upper(),
            path=path,
            headers=_strings(event.get("headers"), lower=True),
            query=_strings(event.get("queryStringParameters")),
            raw_body=body or "",
            base64=event.get("isBase64Encoded") in (True, "true", "True"),
            request_id=request_id,
            segments=tuple(unquote(s) for s in path.strip("/").split("/") if s),
        )

    def body_text(self) -> str:
        """The body as text: Base64 decoded when APIG encoded it; at most :data:`MAX_BODY_BYTES`."""
        if len(self.raw_body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise BodyTooLargeError(f"the body is over {MAX_BODY_BYTES} bytes")
        if not self.base64:
            data = self.raw_body.encode("utf-8", "surrogatepass")
        else:
            try:
                data = base64.b64decode(self.raw_body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InputError("is marked Base64 but is not", field="body") from exc
        if len(data) > MAX_BODY_BYTES:
            raise BodyTooLargeError(f"the body is over {MAX_BODY_BYTES} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("is not UTF-8 text", field="body") from exc

    def json_body(self) -> object:
        """The body as JSON (``None`` when empty); it must be declared JSON when given."""
        text = self.body_text()
        if not text.strip():
            return None
        media = self.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            raise NotJsonError(f"the body must be {JSON}, not {excerpt(media)}")
        return load_json(text, at="body", max_chars=MAX_BODY_BYTES)


def _strings(value: object, *, lower: bool = False) -> dict[str, str]:
    """Headers or query parameters as one string per name (the last of repeated values)."""
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, list) and item:
            item = item[-1]
        if isinstance(name, str) and isinstance(item, str):
            found[name.lower() if lower else name] = item
    return found


def respond(
    status: int,
    body: object,
    *,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """A reply in APIG's shape, the body as JSON text."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, "X-Request-Id": request_id, **(headers or {})},
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


class BodyError(InputError):
    """A request body the model refuses: every refused field, not just the first."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        field_name, message = problems[0]
        super().__init__(message, field=field_name)
        self.problems = problems

    def to_dict(self) -> dict[str, object]:
        listed = [{"field": f, "message": m} for f, m in self.problems[:20]]
        return {**super().to_dict(), "fields": listed}


@dataclass(frozen=True)
class Answer:
    """An HTTP answer before it is put in APIG's shape."""

    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    def dump(self) -> dict[str, JsonValue]:
        return cast(
            dict[str, JsonValue],
            {"status": self.status, "body": self.body, "headers": self.headers},
        )

    @classmethod
    def stored(cls, reply: Mapping[str, object]) -> Answer:
        status, body, headers = reply.get("status"), reply.get("body"), reply.get("headers")
        return cls(
            status if isinstance(status, int) else 200,
            dict(body) if isinstance(body, dict) else {},
            {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
        )


def parse_body(model: type[BaseModel], body: object, **path: str) -> BaseModel:
    """The body as ``model``, with the path's parameters (``pool_id``) added; a refusal names
    every field from ``body`` down. The path's parameters may not be repeated in the body."""
    if not isinstance(body, dict):
        kind = "nothing" if body is None else type(body).__name__
        raise InputError(f"must be a JSON object, not {kind}", field="body")
    repeated = [name for name in path if name in body]
    if repeated:
        raise InputError(
            "is given by the path; leave it out of the body", field=f"body.{repeated[0]}"
        )
    try:
        return model.model_validate({**body, **path})
    except ValidationError as exc:
        problems = [(field_path("body", e["loc"]), e["msg"]) for e in exc.errors()]
        raise BodyError(problems) from exc
