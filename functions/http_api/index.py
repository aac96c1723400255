"""http_api: the member operations over an APIG HTTP trigger."""

from __future__ import annotations

import json

from elbsync.context import FunctionContext
from elbsync.errors import ElbsyncError
from elbsync.runtime import Event, Reply, error_reply, not_implemented, run


def _apig_error(error: ElbsyncError) -> Reply:
    status = 400 if error.client_error else 501 if error.code == "not_implemented" else 502
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_reply(error)),
        "isBase64Encoded": False,
    }


def handler(event: Event, context: FunctionContext) -> Reply:
    return run("http_api", event, context, not_implemented, shape_error=_apig_error)
