"""What a handler returns, and the one exception that becomes an error reply.

Two error body styles exist in the emulated cloud: ELB v3 and the API gateway answer
``{"error_code", "error_msg", "request_id"}``; Auto Scaling and ECS answer
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Call",
    "EmulatedApiError",
    "ErrorStyle",
    "JsonObject",
    "Reply",
    "elb_bad_request",
    "elb_not_found",
    "json_object",
]

JsonObject = dict[str, object]
ErrorStyle = Literal["elb", "legacy"]


@dataclass
class Reply:
    status: int
    body: JsonObject | None = None
    headers: dict[str, str] = field(default_factory=dict)


class EmulatedApiError(Exception):
    """An error reply in the cloud's own shape for the service that raised it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        style: ErrorStyle = "elb",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.style: ErrorStyle = style
        self.headers = headers or {}

    def body(self, request_id: str) -> JsonObject:
        if self.style == "legacy":
            return {"error": {"code": self.code, "message": self.message}}
        return {"error_code": self.code, "error_msg": self.message, "request_id": request_id}


def elb_bad_request(message: str) -> EmulatedApiError:
    return EmulatedApiError(400, "ELB.8902", message)


def elb_not_found(message: str) -> EmulatedApiError:
    return EmulatedApiError(404, "ELB.8904", message)


def json_object(body: bytes, *, style: ErrorStyle = "elb") -> JsonObject:
    """The request body as a JSON object, or the service's 400."""
    code = "ELB.8902" if style == "elb" else "AS.0022"
    if not body.strip():
        if style == "legacy":
            raise EmulatedApiError(400, "AS.0002", "Request body is null.", style=style)
        raise EmulatedApiError(400, code, "request body is empty", style=style)
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EmulatedApiError(
            400, code, f"request body is not valid JSON: {exc}", style=style
        ) from exc
    if not isinstance(document, dict):
        raise EmulatedApiError(400, code, "request body must be a JSON object", style=style)
    return document


@dataclass(frozen=True)
class Call:
    """One authenticated API call, as a service handler sees it."""

    operation: str
    project_id: str
    params: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def query_value(self, name: str) -> str | None:
        values = self.query_values(name)
        return values[-1] if values else None
