"""`lakehouse-gold`: build the gold Iceberg tables and publish them to the serving store."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from lakehouse.logs import configure_logging, get_logger
from lakehouse.registry import RegistryError
from lakehouse.settings import JOB_AREAS, ConfigError, get_settings

log = get_logger("gold")


def _pin(text: str) -> tuple[str, int]:
    table, sep, snap = text.partition("=")
    if not sep or not snap.isdigit():
        raise argparse.ArgumentTypeError(f"--pin wants <silver table>=<snapshot id>, got {text!r}")
    return table, int(snap)


def _watermark(text: str) -> str:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--watermark wants an ISO-8601 timestamp, got {text!r}") from exc
    if stamp.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--watermark needs a UTC offset, got {text!r}")
    return stamp.isoformat()


def main(argv: list[str] | None = None) -> int:
    """`run`: build every gold table from the pinned (default: current) silver snapshots, then publish."""
    parser = argparse.ArgumentParser(prog="lakehouse-gold", description=__doc__)
    parser.add_argument("action", choices=("run", "build"), help="run = build + publish; build = lake only")
    parser.add_argument(
        "--pin",
        type=_pin,
        action="append",
        default=[],
        help="read a silver table at a snapshot: silver.orders=1234 (repeatable)",
    )
    parser.add_argument(
        "--watermark", type=_watermark, help="source watermark to record: every change committed before it is included"
    )
    parser.add_argument("--output", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        settings = get_settings().require(
            *(a for a in JOB_AREAS["lakehouse-gold"] if a != "serving" or args.action == "run")
        )
        configure_logging(settings.log_level)
        settings.registry()
    except (ConfigError, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from spark_iceberg.session import build_session

    from gold.build import build
    from gold.publish import publish

    spark = build_session(settings, app_name="gold")
    try:
        results = build(spark, settings, log.info, dict(args.pin) or None, args.watermark)
        published_at = publish(spark, settings, results, log.info) if args.action == "run" else None
    finally:
        spark.stop()
    if args.output == "json":
        print(
            json.dumps(
                {
                    "tables": [r.as_dict() for r in results],
                    "published_at": published_at.isoformat() if published_at else None,
                }
            )
        )
    else:
        for r in results:
            print(f"{r.table}: {r.rows} rows, snapshot {r.snapshot_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
