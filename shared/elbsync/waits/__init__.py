"""Everything that waits, one module per kind, each starting, advancing and finishing its own:
the write queue (:mod:`.writes`), member check jobs (:mod:`.check_jobs`), lifecycle actions
(:mod:`.lifecycle`) and drains (:mod:`.drains`). The poller schedules them."""
