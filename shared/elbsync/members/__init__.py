"""Changing a pool's members: the pure planner (:mod:`.planner`), the one write path per load
balancer (:mod:`.writes`, :mod:`.executor`) and what a flow holds while it changes members
(:mod:`.membership`)."""
