"""Talking to remote services: one deadline-bound send (:mod:`.send`) with bounded retries
(:mod:`.retry`), the API session built on it (:mod:`.session`), and the request signatures
(:mod:`.auth`)."""
