"""The OpenAPI document: generated from the code, committed as generated, and whole."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from elbsync.api.openapi import document, render
from elbsync.api.routes import OPENAPI_FILE, ROUTES
from jsonschema import Draft202012Validator

DOC: dict[str, Any] = document()


def test_the_committed_file_is_the_generated_document() -> None:
    assert OPENAPI_FILE.read_text("utf-8") == render(DOC), "stale: run `make schemas`"


def test_the_stale_check_passes_on_the_committed_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "elbsync.api.openapi"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_every_route_is_documented_and_nothing_else() -> None:
    documented = {(method.upper(), path) for path, item in DOC["paths"].items() for method in item}
    assert documented == {(route.method, route.path) for route in ROUTES}
    assert DOC["openapi"].startswith("3.1")


def test_every_schema_is_a_valid_json_schema_and_every_ref_resolves() -> None:
    schemas = DOC["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    text = json.dumps(DOC)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_change_bodies_are_the_event_models_without_the_pool() -> None:
    body = DOC["components"]["schemas"]["MembersRegister"]
    assert "pool_id" not in body["properties"]
    assert "members" in body["properties"]
    assert "members_key" in body["properties"]


def test_protected_operations_declare_the_refusals_and_public_ones_need_no_key() -> None:
    for route in ROUTES:
        operation = DOC["paths"][route.path][route.method.lower()]
        if route.public:
            assert operation["security"] == []
        else:
            assert {"401", "403", "503"} <= set(operation["responses"])
