"""`lakehouse-maintain`: compaction, snapshot expiry and orphan removal for the lake tables."""

from __future__ import annotations

import argparse
import json
import sys

from lakehouse.logs import configure_logging, get_logger
from lakehouse.registry import RegistryError
from lakehouse.settings import JOB_AREAS, ConfigError, get_settings

log = get_logger("lake-maintenance")


def main(argv: list[str] | None = None) -> int:
    """Run maintenance once; exit 0 when every table succeeded, 1 when one failed, 2 on bad configuration."""
    parser = argparse.ArgumentParser(prog="lakehouse-maintain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="maintain every silver, bronze and dead-letter table (or --table ones)")
    run_p.add_argument(
        "--table",
        action="append",
        help="only the silver and bronze tables of this registry table (schema.table); repeatable",
    )
    run_p.add_argument("--output", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        settings = get_settings().require(*JOB_AREAS["lakehouse-maintain"])
        configure_logging(settings.log_level)
        registry = settings.registry()
        tables = [registry.by_source(t) for t in args.table] if args.table else None
    except (ConfigError, RegistryError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # Spark is imported only now: --help and configuration errors need no JVM.
    from spark_iceberg.session import build_session

    from lake_maintenance.job import MaintenanceFailed, run

    def say(msg: str) -> None:
        log.info(msg)

    spark = build_session(settings, app_name="lake-maintenance")
    code = 0
    try:
        try:
            results = run(spark, settings, say, tables)
        except MaintenanceFailed as exc:
            results, code = exc.results, 1
        if args.output == "json":
            print(json.dumps([r.as_dict() for r in results]))
        else:
            for r in results:
                print(r.line())
    finally:
        spark.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
