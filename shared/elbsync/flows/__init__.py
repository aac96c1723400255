"""What each function does with its event: lifecycle notifications (:mod:`.scaling`) and
deployment events (:mod:`.deployment`) for member_events (:mod:`.member_events`), the
check_poller's scheduler (:mod:`.check_poller`), and the replies they answer with
(:mod:`.replies`)."""
