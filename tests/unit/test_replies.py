"""Member replies: every row up to the bound; past it, the rows that need attention first."""

from __future__ import annotations

from elbsync.flows.replies import MAX_REPLY_ROWS, DeploymentResult, MemberRow


def rows(result: str, count: int, *, first: int = 0) -> tuple[MemberRow, ...]:
    return tuple(
        MemberRow(
            pool_id="p", result=result, address=f"10.0.{n // 256}.{n % 256}", protocol_port=80
        )
        for n in range(first, first + count)
    )


def test_a_reply_within_the_bound_lists_every_row_in_order() -> None:
    members = rows("added", MAX_REPLY_ROWS - 1)
    reply = DeploymentResult(pool_id="p", members=members, named=rows("unchanged", 1)).reply()

    assert len(reply["members"]) == MAX_REPLY_ROWS  # type: ignore[arg-type]
    assert "members_truncated" not in reply


def test_a_reply_past_the_bound_lists_rows_needing_attention_first_and_counts_every_row() -> None:
    members = rows("added", 3000) + rows("failed", 5, first=3000) + rows("queued", 1500, first=3005)
    named = rows("refused", 10, first=5000)

    reply = DeploymentResult(pool_id="p", members=members, named=named).reply()

    listed = reply["members"]
    assert isinstance(listed, list)
    assert len(listed) == MAX_REPLY_ROWS
    assert [row["result"] for row in listed[:15]] == ["failed"] * 5 + ["refused"] * 10
    assert {row["result"] for row in listed[15:]} == {"queued"}
    assert reply["counts"] == {"added": 3000, "failed": 5, "queued": 1500, "refused": 10}
    assert reply["members_truncated"] == {"listed": MAX_REPLY_ROWS, "total": 4515}
