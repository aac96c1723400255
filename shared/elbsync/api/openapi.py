"""The OpenAPI 3.1 document of http_api, generated from the models the routes use.

Request bodies are the published deployment event schemas (:mod:`elbsync.inbound.published`)
without ``pool_id``, which the path gives; replies are :mod:`elbsync.api.models`. The function
serves the committed file (``openapi.json`` beside this module, shipped with the package); a
test fails when it and the code disagree. Rewrite it with ``make schemas``:

    python -m elbsync.api.openapi            # exit 1 if the file is stale
    python -m elbsync.api.openapi --write    # rewrite it
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from elbsync import __version__
from elbsync.api import models
from elbsync.api.apig import MAX_BODY_BYTES
from elbsync.api.routes import DEFAULT_PAGE, MAX_PAGE, OPENAPI_FILE, ROUTES
from elbsync.inbound.deployments import DEPLOYMENT_TYPES
from elbsync.inbound.published import published_schemas

__all__ = ["document", "main", "render"]

_REF = "#/components/schemas/{model}"
#: Route name → (request body component, summary).
_BODIES = {
    "add_members": ("MembersRegister", "Add members (already present counts as success)"),
    "remove_members": ("MembersDeregister", "Remove members, after a drain when asked"),
    "weigh_members": ("MembersWeights", "Give members new weights"),
    "put_members": ("PoolDesired", "Make the pool hold exactly these members (dry_run: the plan)"),
    "start_check": ("StartCheck", "Start an ELB member check job"),
}
_SCHEMA_FILES = {
    "MembersRegister": DEPLOYMENT_TYPES["elbsync.members.register"][1],
    "MembersDeregister": DEPLOYMENT_TYPES["elbsync.members.deregister"][1],
    "MembersWeights": DEPLOYMENT_TYPES["elbsync.members.weights"][1],
    "PoolDesired": DEPLOYMENT_TYPES["elbsync.pool.desired"][1],
}
_SUMMARIES = {
    "health": "The function answers (no API key needed)",
    "openapi": "This document (no API key needed)",
    "list_members": "The pool's members, their weights and health",
    "show_check": "A check job and its rendered findings (polled once when it is due)",
    "show_operation": "A change answered 202: its outcome, resumed when it still waits",
    "list_waits": "What waits: check jobs, lifecycle actions, drains, queued writes",
}
_REPLIES: tuple[type[BaseModel], ...] = (
    models.ErrorReply,
    models.Health,
    models.ChangeReply,
    models.PoolMembers,
    models.CheckJobReply,
    models.WaitList,
    models.StartCheck,
)


def _body_schema(file: str) -> dict[str, Any]:
    schema: dict[str, Any] = dict(published_schemas()[file])
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "pool_id"}
    schema["required"] = [r for r in schema.get("required", []) if r != "pool_id"]
    if not schema["required"]:
        del schema["required"]
    return schema


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}


def _error(description: str, **headers: str) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description, "content": _json("ErrorReply")}
    if headers:
        reply["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return reply


def _operation(name: str, method: str, path: str, public: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    parameters: list[dict[str, Any]] = []
    for segment in path.split("/"):
        if segment.startswith("{"):
            parameters.append(
                {
                    "name": segment.strip("{}"),
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                }
            )
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": _BODIES.get(name, ("", _SUMMARIES.get(name, "")))[1],
        "parameters": parameters,
    }
    if name in _BODIES:
        operation["requestBody"] = {"required": True, "content": _json(_BODIES[name][0])}
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "the same key and body get the first reply; another body, 422",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "pattern": "^[\\x20-\\x7e]+$",
                },
            }
        )
    if name == "list_waits":
        parameters += [
            {
                "name": "kind",
                "in": "query",
                "schema": {"enum": ["check_job", "lifecycle_action", "drain", "write_intent"]},
            },
            {"name": "pool_id", "in": "query", "schema": {"type": "string"}},
            {"name": "status", "in": "query", "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PAGE,
                    "default": DEFAULT_PAGE,
                },
            },
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
    ok = {
        "health": ("Health", 200),
        "list_members": ("PoolMembers", 200),
        "show_check": ("CheckJobReply", 200),
        "start_check": ("CheckJobReply", 201),
        "list_waits": ("WaitList", 200),
    }
    if name == "openapi":
        responses["200"] = {
            "description": "the document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    elif name in ok:
        ref, status = ok[name]
        responses[str(status)] = {"description": "done", "content": _json(ref)}
    else:
        responses["200"] = {
            "description": "done: per-member results",
            "content": _json("ChangeReply"),
        }
        responses["202"] = {
            "description": "still queued: poll the Location",
            "content": _json("ChangeReply"),
            "headers": {
                "Location": {"schema": {"type": "string"}},
                "Retry-After": {"schema": {"type": "string"}},
            },
        }
    if name == "show_operation":
        # The operation's own reply, replayed: a check job started (201), a change refused (422).
        responses["201"] = {
            "description": "a check job it started",
            "content": _json("CheckJobReply"),
        }
        responses["422"] = _error_or_change()
    if name in ("start_check", "show_operation"):
        responses["201"]["headers"] = {"Location": {"schema": {"type": "string"}}}
    if name in _BODIES or name == "list_waits":
        responses["400"] = _error("invalid JSON, query or body: error.fields names each field")
    if not public:
        responses["401"] = _error(
            "no API key, or not a configured one", **{"WWW-Authenticate": "Bearer"}
        )
        responses["403"] = _error("the pool is not in the allow-list (ELBSYNC_API_POOLS)")
    if name in ("list_members", "show_check", "show_operation", "start_check") or name in _BODIES:
        responses["404"] = _error("no such pool, member, check job or operation")
    responses["405"] = _error(
        "wrong method: Allow lists the right ones", Allow="the methods allowed"
    )
    if name in _BODIES:
        responses["409"] = _error(
            "the same Idempotency-Key is being handled now", **{"Retry-After": "seconds"}
        )
        responses["413"] = _error(f"the body is over {MAX_BODY_BYTES} bytes")
        responses["415"] = _error("the body is not application/json")
        responses["422"] = _error_or_change()
    if not public:
        responses["500"] = _error("elbsync is misconfigured (the variable is named)")
        responses["502"] = _error("a cloud API failed in a way that is not transient")
        responses["503"] = _error(
            "a cloud API or the state store is busy: retry", **{"Retry-After": "seconds"}
        )
    operation["responses"] = dict(sorted(responses.items()))
    if not public:
        operation["security"] = [{"apiKey": []}, {"bearer": []}]
    else:
        operation["security"] = []
    return operation


def _error_or_change() -> dict[str, Any]:
    return {
        "description": (
            "valid, but not allowed: a guard refused every change, or the key was reused "
            "with another body"
        ),
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": _REF.format(model="ChangeReply")},
                        {"$ref": _REF.format(model="ErrorReply")},
                    ]
                }
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as the committed file should hold it."""
    _, generated = models_json_schema([(m, "serialization") for m in _REPLIES], ref_template=_REF)
    schemas: dict[str, Any] = dict(generated.get("$defs", {}))
    for name, file in _SCHEMA_FILES.items():
        schemas[name] = _body_schema(file)
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route.name, route.method, route.path, route.public
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "elbsync",
            "version": __version__,
            "description": (
                "Keep Huawei Cloud ELB v3 pools in step: the member operations of elbsync "
                "over HTTP."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="check or rewrite the OpenAPI document")
    parser.add_argument("--write", action="store_true", help="rewrite the file when stale")
    args = parser.parse_args(argv)
    text = render(document())
    current = OPENAPI_FILE.read_text("utf-8") if OPENAPI_FILE.is_file() else None
    if current == text:
        return 0
    if args.write:
        OPENAPI_FILE.write_text(text, "utf-8")
        print(f"wrote {OPENAPI_FILE}")
        return 0
    print(f"stale: {OPENAPI_FILE} (run `make schemas`)")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
