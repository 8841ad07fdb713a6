"""The bench's figures: PNGs drawn from one run's result JSON (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI machine
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen


def draw_cost_curves(multi: dict[str, Any], out: Path, title: str) -> Path:
    """Cycle time and freshness against the number of tables, and cycle time against batch size."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    cycles = multi["cycle_against_tables"]
    fresh = multi["freshness_against_tables"]
    target = multi["targets"]["cycle_of_100_active_tables_at_most_s"]
    left.plot(
        [c["tables"] for c in cycles],
        [c["cycle_seconds_median"] for c in cycles],
        "o-",
        label="cycle (5 rows per table)",
    )
    left.plot([f["tables"] for f in fresh], [f["p95_s"] for f in fresh], "s-", label="p95 commit-to-visible (trickle)")
    left.plot([f["tables"] for f in fresh], [f["p50_s"] for f in fresh], "s--", label="p50 commit-to-visible")
    left.axhline(target, color="grey", linestyle=":", label=f"target {target} s")
    left.set_xlabel("active tables")
    left.set_ylabel("seconds")
    left.set_title("against the number of tables")
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    sizes = multi["cycle_against_batch_size"]
    right.plot([s["rows_per_table"] for s in sizes], [s["cycle_seconds"] for s in sizes], "o-", label="cycle")
    right.set_xscale("log")
    right.set_xlabel(f"rows per table ({sizes[0]['tables']} tables)" if sizes else "rows per table")
    right.set_ylabel("cycle seconds")
    right.set_title("against the batch size")
    right.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def cost_table(multi: dict[str, Any]) -> str:
    """The figures the PNG is drawn from, as a Markdown table."""
    fresh = {f["tables"]: f for f in multi["freshness_against_tables"]}
    lines = [
        "| active tables | cycle, 5 rows each (median of 3) | per active table "
        "| p50 / p95 commit-to-visible (trickle) | streaming cycle (median) |",
        "|---|---|---|---|---|",
    ]
    for c in multi["cycle_against_tables"]:
        f = fresh.get(c["tables"], {})
        lines.append(
            f"| {c['tables']} | {c['cycle_seconds_median']} s | {c['seconds_per_active_table']} s | "
            f"{f.get('p50_s', '—')} s / {f.get('p95_s', '—')} s | {f.get('cycle_seconds_median', '—')} s |"
        )
    lines += ["", "| tables × rows per table | cycle | µs per record |", "|---|---|---|"]
    for s in multi["cycle_against_batch_size"]:
        lines.append(f"| {s['tables']} × {s['rows_per_table']} | {s['cycle_seconds']} s | {s['us_per_record']} |")
    return "\n".join(lines) + "\n"
