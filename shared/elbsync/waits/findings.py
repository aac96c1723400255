"""Member check job results, made readable: every failed item's reason rendered from its
``reason_template`` and ``reason_params``.

ELB gives ``reason_params`` as a list of strings; they fill the ``{$name}`` placeholders in the
order each name first appears in the template (the order the emulator documents; the cloud's
own pages show only empty lists, so a ``name=value`` entry is also accepted by name).
"""

from __future__ import annotations

import re

from elbsync.clients.elb import CheckItem, MemberCheckReply
from elbsync.state.records import CheckFinding

__all__ = ["failed", "findings", "passed", "reason_of", "render"]

_PLACEHOLDER = re.compile(r"\{\$(\w+)\}")


def render(template: str, params: list[str]) -> str:
    """Fill ``{$name}`` placeholders; a placeholder with no value is left as it is."""
    named = dict(p.split("=", 1) for p in params if "=" in p and p.split("=", 1)[0].isidentifier())
    order: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in order:
            order.append(match.group(1))
    values = named or dict(zip(order, params, strict=False))
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def failed(item: CheckItem) -> bool:
    """An item reports a fault when it carries a reason or reason parameters."""
    return bool(item.reason) or bool(item.reason_params)


def reason_of(item: CheckItem) -> str:
    if item.reason_template and item.reason_params:
        return render(item.reason_template, item.reason_params)
    return item.reason or item.reason_template or item.name


def findings(job: MemberCheckReply) -> tuple[CheckFinding, ...]:
    """Every failed item of a processed job, Major ones first, in a stable order."""
    found = [
        CheckFinding(
            group=group,
            name=item.name,
            severity="Major" if item.severity == "Major" else "Tips",
            reason=reason_of(item),
        )
        for group, result in (job.result.groups().items() if job.result else [])
        for item in result.check_items
        if failed(item)
    ]
    return tuple(sorted(found, key=lambda f: (not f.blocks, f.group, f.name)))


def passed(job: MemberCheckReply) -> bool:
    """No Major item failed (Tips do not block)."""
    return not any(f.blocks for f in findings(job))
