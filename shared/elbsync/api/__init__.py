"""http_api: the member operations over an API Gateway (APIG) HTTP trigger.

- :mod:`~elbsync.api.apig`: the APIG request and response shapes;
- :mod:`~elbsync.api.access`: API keys and the pool allow-list;
- :mod:`~elbsync.api.models`: request bodies and replies (the OpenAPI document is built from them);
- :mod:`~elbsync.api.routes`: the routes, each a thin call into the same flows member_events uses;
- :mod:`~elbsync.api.operations`: changes answered ``202 Accepted`` and polled by id;
- :mod:`~elbsync.api.openapi`: the OpenAPI 3.1 document (``make schemas`` rewrites the file).
"""
