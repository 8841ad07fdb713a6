"""A short seeded soak round (`make soak` in small): random workload, three fault kinds, each round checked by
the independent checker (tools/soak/soak/checker.py)."""

from __future__ import annotations

from typing import Any

SEED = 20261202


def test_a_short_seeded_soak_ends_with_no_mismatch(stack: Any) -> None:
    from soak.run import run_soak

    kinds = ("merge-kill9", "connect-kill9", "postgres-immediate")
    report = run_soak(stack.env, SEED, duration_s=0, say=print, round_s=20, kinds=kinds)
    print(report.summary())
    assert report.rounds >= len(kinds) and set(report.faults) == set(kinds), report.faults
    assert report.changes > 100 and report.rows_compared > 50 and report.bronze_offsets_checked > report.changes / 2
    assert report.dead_letters > 0, "no unkeepable value was generated: the dead-letter check was not exercised"
    assert report.mismatches == 0, "\n".join(report.mismatch_details)
