"""http_api: the member operations over an APIG HTTP trigger (routes: elbsync.api.routes).

Every refusal, including an event that is not an APIG request at all, is answered in the APIG
response shape. The event may carry a request body of up to APIG's 6 MB, so it is held to the
larger HTTP limit; the body itself is held to the API's own limit when it is decoded.
"""

from __future__ import annotations

from functools import partial

from elbsync.api.routes import error_response, handle
from elbsync.inbound.limits import MAX_HTTP_EVENT_CHARS
from elbsync.runtime import Reply, printable_id, run
from elbsync.runtime.context import FunctionContext


def handler(event: object, context: FunctionContext) -> Reply:
    request_id = printable_id(context.getRequestID()) or "-"
    return run(
        "http_api",
        event,
        context,
        handle,
        shape_error=partial(error_response, request_id=request_id),
        max_event_chars=MAX_HTTP_EVENT_CHARS,
    )
