"""What a lifecycle action does next, as a table over the pure function ``decide``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from elbsync.waits.lifecycle import EXTEND_LEAD, HEALTHY_REASON, Facts, Verb, decide

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)

# Defaults: the hook has an hour left, the health gate ten minutes.
HOOK = NOW + 60 * MINUTE
HEALTH = NOW + 10 * MINUTE

WEB_DOWN = "10.2.0.1:80 on listener lsn-1 is OFFLINE"
API_DOWN = "10.2.0.2:8080 on listener lsn-2 is INITIAL"
REFUSED = "10.2.0.9:80 in pool pool-1: ELB.8902"
REFUSED_TOO = "10.2.0.9:443 in pool pool-2: ELB.8905"
FINDING = "the security group blocks the health check port"


def facts(**changes: Any) -> Facts:
    values: dict[str, Any] = {
        "now": NOW,
        "hook_deadline": HOOK,
        "health_deadline": HEALTH,
        "policy": "abandon",
    }
    values.update(changes)
    return Facts(**values)


CASES = [
    # -- the hook's deadline has passed: nothing else matters -------------------------------
    pytest.param(
        facts(hook_deadline=NOW), "expired", ("deadline passed",), id="hook-deadline-reached"
    ),
    pytest.param(
        facts(hook_deadline=NOW - MINUTE, unhealthy=(WEB_DOWN,)),
        "expired",
        ("deadline passed",),
        id="hook-deadline-passed-while-unhealthy",
    ),
    pytest.param(
        facts(hook_deadline=NOW - SECOND, refused=(REFUSED,), policy="continue"),
        "expired",
        ("Auto Scaling applied its default",),
        id="hook-deadline-passed-beats-refused-members",
    ),
    # -- ELB refused members: the policy decides at once ---------------------------------------
    pytest.param(
        facts(refused=(REFUSED, REFUSED_TOO)),
        "abandon",
        ("ELB refused to add", REFUSED, REFUSED_TOO),
        id="refused-members-abandon-by-policy",
    ),
    pytest.param(
        facts(refused=(REFUSED,), policy="continue"),
        "continue",
        ("ELB refused to add", REFUSED),
        id="refused-members-continue-by-policy",
    ),
    pytest.param(
        facts(refused=(REFUSED,), joining=True, now=HEALTH - 5 * MINUTE),
        "abandon",
        ("ELB refused to add", REFUSED),
        id="refused-members-decide-before-the-health-deadline",
    ),
    # -- joining: adds still queued, never a reason to give up --------------------------------
    pytest.param(
        facts(joining=True, now=HEALTH + MINUTE),
        "wait",
        (),
        id="joining-past-health-deadline-waits",
    ),
    pytest.param(
        facts(joining=True, now=HEALTH + MINUTE, unhealthy=(WEB_DOWN,), findings=(FINDING,)),
        "wait",
        (),
        id="joining-ignores-findings-and-unhealthy-members",
    ),
    pytest.param(
        facts(
            joining=True,
            now=HEALTH + MINUTE,
            hook_deadline=HEALTH + MINUTE + EXTEND_LEAD,
        ),
        "extend",
        ("hook's deadline",),
        id="joining-near-hook-deadline-extends-even-after-health-deadline",
    ),
    pytest.param(
        facts(
            joining=True,
            now=HEALTH + MINUTE,
            hook_deadline=HEALTH + 2 * MINUTE,
            extensions=3,
            max_extensions=3,
        ),
        "wait",
        (),
        id="joining-near-hook-deadline-with-no-extensions-left-waits",
    ),
    # -- major check findings: the policy decides ----------------------------------------------
    pytest.param(
        facts(findings=(FINDING, "the network ACL denies port 80")),
        "abandon",
        ("check found", FINDING, "network ACL"),
        id="findings-abandon-by-policy-before-the-health-deadline",
    ),
    pytest.param(
        facts(findings=(FINDING,), policy="continue", now=HEALTH + MINUTE),
        "continue",
        ("check found", FINDING),
        id="findings-continue-by-policy",
    ),
    # -- healthy --------------------------------------------------------------------------------
    pytest.param(facts(), "continue", (HEALTHY_REASON,), id="all-healthy-continues"),
    pytest.param(
        facts(now=HEALTH + MINUTE),
        "continue",
        (HEALTHY_REASON,),
        id="all-healthy-past-health-deadline-continues-despite-abandon-policy",
    ),
    pytest.param(
        facts(open_checks=1),
        "wait",
        (),
        id="healthy-with-a-check-job-running-waits",
    ),
    # -- not healthy by the health deadline: the policy decides --------------------------------
    pytest.param(
        facts(now=HEALTH, unhealthy=(WEB_DOWN, API_DOWN)),
        "abandon",
        ("not healthy by the health deadline", WEB_DOWN, API_DOWN),
        id="unhealthy-at-health-deadline-abandons",
    ),
    pytest.param(
        facts(now=HEALTH + MINUTE, unhealthy=(WEB_DOWN,), policy="continue"),
        "continue",
        ("not healthy by the health deadline", WEB_DOWN),
        id="unhealthy-past-health-deadline-continues-by-policy",
    ),
    pytest.param(
        facts(now=HEALTH + MINUTE, open_checks=2),
        "abandon",
        ("not healthy by the health deadline", "2 check job(s) running"),
        id="open-check-jobs-past-health-deadline-abandon",
    ),
    pytest.param(
        facts(now=HEALTH + MINUTE, open_checks=1, policy="continue"),
        "continue",
        ("1 check job(s) running",),
        id="open-check-jobs-past-health-deadline-continue-by-policy",
    ),
    pytest.param(
        facts(now=HEALTH - SECOND, unhealthy=(WEB_DOWN,)),
        "wait",
        (),
        id="unhealthy-before-health-deadline-waits",
    ),
    # -- extending the hook ---------------------------------------------------------------------
    pytest.param(
        facts(hook_deadline=NOW + 2 * MINUTE, unhealthy=(WEB_DOWN,)),
        "extend",
        ("comes before the health gate's",),
        id="hook-deadline-near-and-before-health-deadline-extends",
    ),
    pytest.param(
        facts(hook_deadline=NOW + EXTEND_LEAD, open_checks=1, extensions=2, max_extensions=3),
        "extend",
        ("comes before the health gate's",),
        id="hook-deadline-exactly-extend-lead-away-extends-with-one-extension-left",
    ),
    pytest.param(
        facts(hook_deadline=NOW + EXTEND_LEAD + SECOND, unhealthy=(WEB_DOWN,)),
        "wait",
        (),
        id="hook-deadline-just-beyond-extend-lead-waits",
    ),
    pytest.param(
        facts(
            hook_deadline=NOW + 2 * MINUTE,
            unhealthy=(WEB_DOWN,),
            extensions=3,
            max_extensions=3,
        ),
        "wait",
        (),
        id="no-extend-when-max-extensions-reached",
    ),
    pytest.param(
        facts(hook_deadline=NOW + 2 * MINUTE, unhealthy=(WEB_DOWN,), max_extensions=0),
        "wait",
        (),
        id="no-extend-when-no-extensions-allowed",
    ),
    pytest.param(
        facts(
            hook_deadline=NOW + 2 * MINUTE,
            health_deadline=NOW + MINUTE,
            unhealthy=(WEB_DOWN,),
        ),
        "wait",
        (),
        id="no-extend-when-health-deadline-comes-first",
    ),
]


@pytest.mark.parametrize(("given", "verb", "reason_mentions"), CASES)
def test_decide_gives_the_expected_verb_and_reason(
    given: Facts, verb: Verb, reason_mentions: tuple[str, ...]
) -> None:
    verdict = decide(given)

    assert verdict.verb == verb
    for text in reason_mentions:
        assert text in verdict.reason
    if verb == "wait":
        assert verdict.reason == ""


def test_an_unhealthy_member_is_named_instead_of_the_count_of_running_check_jobs() -> None:
    verdict = decide(facts(now=HEALTH + MINUTE, unhealthy=(WEB_DOWN,), open_checks=4))

    assert verdict.verb == "abandon"
    assert WEB_DOWN in verdict.reason
    assert "check job(s) running" not in verdict.reason
