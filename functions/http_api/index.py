"""http_api: the member operations over an APIG HTTP trigger.

Every refusal, including an event that is not an APIG request at all, is answered in the APIG
response shape. The event may carry a request body of up to APIG's 6 MB, so it is held to the
larger HTTP limit; the body, a string, is checked when it is decoded.
"""

from __future__ import annotations

import json

from elbsync.errors import ElbsyncError
from elbsync.inbound.limits import MAX_HTTP_EVENT_CHARS
from elbsync.runtime import Reply, error_reply, not_implemented, run
from elbsync.runtime.context import FunctionContext


def _apig_error(error: ElbsyncError) -> Reply:
    status = 400 if error.client_error else 501 if error.code == "not_implemented" else 502
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_reply(error)),
        "isBase64Encoded": False,
    }


def handler(event: object, context: FunctionContext) -> Reply:
    return run(
        "http_api",
        event,
        context,
        not_implemented,
        shape_error=_apig_error,
        max_event_chars=MAX_HTTP_EVENT_CHARS,
    )
