"""Everything the check_poller waits on, one module per kind, each starting, advancing and
finishing its own: member check jobs (:mod:`.check_jobs`, their findings in :mod:`.findings`),
lifecycle actions (:mod:`.lifecycle`) and drains (:mod:`.drains`). Queued writes wait in the
write path (:mod:`elbsync.members.writes`)."""
