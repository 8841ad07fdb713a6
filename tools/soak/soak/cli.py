"""`python -m soak.cli` (`make soak SEED=... DURATION=...`): soak a private local stack and check it.

The seed is printed first, so any failure replays with `make soak SEED=<seed>`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    """Run the soak; exit 0 with no mismatch, 1 with any, 2 on bad arguments."""
    from soak.faults import KINDS

    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    parser.add_argument("--duration", type=float, default=600, help="seconds of rounds (a round always completes)")
    parser.add_argument("--round-seconds", type=float, default=60, help="workload seconds per round")
    parser.add_argument(
        "--faults", default=",".join(KINDS), help=f"comma-separated kinds (default all: {', '.join(KINDS)})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack and its data afterwards")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        print(f"error: unknown fault kind(s) {unknown}; known: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    print(f"soak seed {seed} (replay: make soak SEED={seed} DURATION={args.duration:.0f})", flush=True)

    from lakehouse.settings import get_settings
    from stackctl.ephemeral import ephemeral_stack, run_tool

    from soak.run import run_soak, soak_tables
    from soak.workload import DDL

    root = Path(tempfile.mkdtemp(prefix=f"soak-{seed}-"))
    registry = yaml.safe_load((REPO / "config" / "tables.yaml").read_text())
    registry["tables"] += soak_tables()
    registry_path = root / "tables.yaml"
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    saved = dict(os.environ)

    def say(msg: str) -> None:
        print(msg, flush=True)

    try:
        say(f"==> starting a private stack under {root}")
        with ephemeral_stack(
            root,
            registry_path,
            {"LAKEHOUSE_CONNECT_HEARTBEAT_INTERVAL_MS": "1000", "LAKEHOUSE_STACK_PREFECT_SCHEDULER": "false"},
            keep=args.keep,
        ) as env:
            os.environ.clear()
            os.environ.update(env)
            get_settings.cache_clear()
            import psycopg

            with psycopg.connect(get_settings().source.conninfo(), autocommit=True) as conn:
                conn.execute(DDL)  # type: ignore[call-overload]
            run_tool(env, "lakehouse-connectors", "apply")
            say(
                f"==> soaking for {args.duration:.0f}s, rounds of {args.round_seconds:.0f}s, faults: {', '.join(kinds)}"
            )
            report = run_soak(
                env,
                seed,
                args.duration,
                say,
                round_s=args.round_seconds,
                kinds=kinds,
                results_dir=REPO / "bench" / "results",
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    say(report.summary())
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
