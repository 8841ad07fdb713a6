"""`lakehouse-merge`: the cdc-merge Spark job entrypoint (same command locally and in the cluster)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from lakehouse.logs import configure_logging, get_logger
from lakehouse.registry import RegistryError
from lakehouse.settings import JOB_AREAS, ConfigError, get_settings

log = get_logger("cdc-merge")
EXIT_GAP = 3


def main(argv: list[str] | None = None) -> int:
    """Run `once` (one batch per table), `catch-up` (until no lag) or `stream` (forever).

    Exit codes: 0 done; 2 configuration error; 3 a table stopped at a retention gap (records
    it needed were deleted from Kafka; the other tables were merged); 75 a table was skipped
    because another merge held it (`cdc_merge.lease.EXIT_BUSY`: the other run merges it).
    """
    parser = argparse.ArgumentParser(prog="lakehouse-merge", description=__doc__)
    parser.add_argument("mode", choices=("once", "catch-up", "stream"), help="how many batches to run")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument("--table", action="append", help="only these registry tables (schema.table)")
    parser.add_argument(
        "--accept-gap",
        action="store_true",
        help="start the --table tables at the oldest record Kafka holds although records they needed "
        "were deleted by retention (after re-reading them: make resnapshot TABLE=...)",
    )
    args = parser.parse_args(argv)
    try:
        settings = get_settings().require(*JOB_AREAS["lakehouse-merge"])
        configure_logging(settings.log_level)
        registry = settings.registry()
        tables = [registry.by_source(t) for t in args.table] if args.table else None
        if args.accept_gap:
            if not args.table:
                raise ConfigError(["--accept-gap needs --table: name the tables you re-read"])
            settings = settings.with_area(
                "merge", settings.merge.model_copy(update={"accept_gap_tables": [t.source for t in tables or []]})
            )
    except (ConfigError, RegistryError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from spark_iceberg.conflicts import is_conflict
    from spark_iceberg.session import build_session

    from cdc_merge.job import CycleState, run_once, run_until_caught_up
    from cdc_merge.lease import EXIT_BUSY, LeaseLost

    def say(msg: str) -> None:
        log.info(msg)

    spark = build_session(settings)
    stop = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True
        log.info("signal %s: finishing the current batch, then stopping", signum)

    signal.signal(signal.SIGTERM, _stop)
    try:
        if args.mode == "once":
            results = run_once(spark, settings, say, tables)
        elif args.mode == "catch-up":
            results = run_until_caught_up(spark, settings, say, tables)
        else:
            results = []
            state = CycleState()
            while not stop:
                started = time.monotonic()
                try:
                    run_once(spark, settings, say, tables, state)
                except Exception as exc:
                    # Lost a commit race (e.g. with compaction): the batch committed nothing,
                    # so the next one re-reads it from the checkpoint. Anything else is fatal.
                    if not is_conflict(exc):
                        raise
                    log.warning("commit conflict, retrying the batch: %s", str(exc).splitlines()[0])
                pause = settings.merge.trigger_interval_s - (time.monotonic() - started)
                while pause > 0 and not stop:
                    time.sleep(min(pause, 0.5))
                    pause -= 0.5
        if args.output == "json":
            print(json.dumps([r.as_dict() for r in results], default=str))
        elif not results and args.mode != "stream":
            print("nothing new on any topic")
    except LeaseLost as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    gaps = {r.table: r.gap for r in results if r.gap}
    for table, gap in gaps.items():
        print(f"gap: {table}: {gap}", file=sys.stderr)
    busy = {r.table: r.busy for r in results if r.busy}
    for table, holder in busy.items():
        print(f"busy: {table} was skipped: another merge holds it ({holder}); exit {EXIT_BUSY}", file=sys.stderr)
    return EXIT_GAP if gaps else EXIT_BUSY if busy else 0


if __name__ == "__main__":
    sys.exit(main())
