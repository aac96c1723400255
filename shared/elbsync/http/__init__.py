"""Talking to remote services: one deadline-bound send with bounded retries (:mod:`.session`,
:mod:`.retry`) and the request signatures (:mod:`.auth`)."""
