"""The large-table phase of `make bench`: an initial snapshot of a wide table, in kind's memory limits.

`bench.wide` (a bigint key, ten typed columns, a 256-byte `bytea` and a 1 KiB `text` per row)
is filled with N rows (default 5,000,000) *before* the connector exists, so Debezium captures
it as an initial snapshot; the merge streams beside it. The phase runs in a private stack of
its own, in a process of its own, with the JVM heaps of the kind overlay (read from
`k8s/`: Kafka's `-Xmx`, Connect's `CONNECT_HEAP`, `LAKEHOUSE_MERGE_DRIVER_MEMORY`), so what it
measures is what the kind cluster would run. Measured:
- rows per second: Debezium (snapshot start to the last event in Kafka) and end to end (to the
  silver commit holding the last row), and the time to the first row visible in silver;
- each JVM's peak resident memory (the kernel's VmHWM of Kafka, Connect and the Spark JVM)
  beside its kind container limit (in local mode one Spark JVM is driver and executor: its
  peak is compared with the driver pod's limit, a bound the two pods of kind do not share);
- the quality gate (lakehouse.quality, per-key-bucket checksums, streamed) on the whole
  table, in a process of its own: seconds and peak memory (ru_maxrss).

Run by `bench/run.py` as `python -m bench.large_table --rows N --out FILE`; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TABLE = "bench.wide"
PAYLOAD_BYTES = 256
TEXT_CHARS = 1024
CHUNK = 100_000
DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
GRANT USAGE ON SCHEMA bench TO debezium;
ALTER DEFAULT PRIVILEGES IN SCHEMA bench GRANT SELECT ON TABLES TO debezium;
CREATE TABLE IF NOT EXISTS bench.wide (
    id bigint PRIMARY KEY,
    account_id integer NOT NULL,
    kind text NOT NULL,
    amount numeric(14, 2),
    ratio double precision,
    active boolean NOT NULL,
    created_at timestamptz NOT NULL,
    valid_on date,
    label varchar(64),
    quantity bigint,
    payload bytea NOT NULL,
    body text NOT NULL
);
"""
# 256 bytes of md5 output and 1 KiB of hex text per row: varied across rows, compressible
# about as much as ordinary text (each row's text repeats its own 128 characters).
INSERT = f"""
INSERT INTO bench.wide
SELECT g, (g %% 100000)::int, (ARRAY['order', 'refund', 'transfer'])[g %% 3 + 1], (g %% 1000000) / 100.0,
       g / 7.0, g %% 2 = 0, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       date '2026-01-01' + (g %% 365)::int, 'label-' || (g %% 5000), g * 31,
       decode(repeat(md5(g::text) || md5((g + 1)::text), {PAYLOAD_BYTES // 32}), 'hex'),
       substr(repeat(md5(g::text) || md5((g * 3)::text) || md5((g * 5)::text) || md5((g * 7)::text), 8),
              1, {TEXT_CHARS})
FROM generate_series(%s::bigint, %s::bigint) g
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] large-table: {msg}", flush=True)


def _mib(text: str) -> int:
    """A Kubernetes quantity or a JVM size (768Mi, 1Gi, 640m, 1g) in MiB."""
    m = re.fullmatch(r"(\d+)(Mi|Gi|m|g|M|G)", text.strip())
    if m is None:
        raise ValueError(f"cannot read the memory size {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    return n * 1024 if unit in ("Gi", "g", "G") else n


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc.get("kind") == "PodTemplate":  # its pod is under `template`, not `spec.template`
        spec = {"template": doc.get("template", {})}
    pod = spec.get("template", {}).get("spec", spec)
    return list(pod.get("containers", []))


def kind_memory() -> dict[str, dict[str, int]]:
    """Heaps and container limits (MiB) of the kind overlay, read from k8s/ (no copy to drift)."""
    base, kind = REPO / "k8s" / "base", REPO / "k8s" / "overlays" / "kind"
    limits: dict[str, int] = {}
    for doc in _docs(kind / "resources.yaml"):
        for c in _containers(doc):
            limit = c.get("resources", {}).get("limits", {}).get("memory")
            if limit:
                limits[doc["metadata"]["name"]] = _mib(limit)

    def env(path: Path, name: str) -> str:
        for doc in _docs(path):
            for c in _containers(doc):
                for e in c.get("env", []):
                    if e.get("name") == name:
                        return str(e["value"])
        raise KeyError(f"{name} not set in {path}")

    kafka_heap = re.search(r"-Xmx(\S+)", env(base / "kafka" / "kafka.yaml", "KAFKA_HEAP_OPTS"))
    settings_env = dict(
        line.split("=", 1)
        for line in (base / "settings" / "settings.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    driver_limit = next(
        _mib(c["resources"]["limits"]["memory"])
        for doc in _docs(base / "spark" / "pod-templates.yaml")
        for c in _containers(doc)
        if c.get("name") == "driver"
    )
    if kafka_heap is None:
        raise KeyError("KAFKA_HEAP_OPTS has no -Xmx in k8s/base/kafka/kafka.yaml")
    return {
        "kafka": {"heap_mib": _mib(kafka_heap.group(1)), "limit_mib": limits["kafka"]},
        "connect": {
            "heap_mib": _mib(env(base / "kafka-connect" / "kafka-connect.yaml", "CONNECT_HEAP")),
            "limit_mib": limits["kafka-connect"],
        },
        "spark": {"heap_mib": _mib(settings_env["LAKEHOUSE_MERGE_DRIVER_MEMORY"]), "limit_mib": driver_limit},
    }


def _rss_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM of a process in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory(threading.Thread):
    """Samples each process's resident memory; `peaks()` also takes the kernel's high-water mark."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], _rss_kib(pid, "VmRSS"))

    def peaks(self) -> dict[str, int]:
        """Peak resident MiB per process."""
        return {n: max(self.peak[n], _rss_kib(pid, "VmHWM")) // 1024 for n, pid in self.pids.items()}


def generate(conninfo: str, rows: int) -> float:
    """Fill bench.wide with `rows` rows in transactions of CHUNK rows; seconds taken."""
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for start in range(0, rows, CHUNK):
            conn.execute(INSERT, (start + 1, min(start + CHUNK, rows)))
            done = min(start + CHUNK, rows)
            if done % (10 * CHUNK) == 0 or done == rows:
                log(f"generated {done:,} of {rows:,} rows ({done / (time.monotonic() - t0):,.0f} rows/s)")
        conn.execute("ANALYZE bench.wide")
        size = conn.execute("SELECT pg_total_relation_size('bench.wide')").fetchone()
    log(f"bench.wide holds {rows:,} rows, {int(size[0]) / 2**30:.2f} GiB in PostgreSQL" if size else "generated")
    return time.monotonic() - t0


def gate() -> int:
    """`gate`: the quality gate on bench.wide against a fresh source snapshot; prints its result."""
    from lakehouse.consistency import open_source_snapshot, wait_for_snapshot
    from lakehouse.quality import check_tables
    from lakehouse.settings import get_settings

    settings = get_settings()
    spec = settings.registry().by_source(TABLE)
    with open_source_snapshot(settings) as snap:
        wait_for_snapshot(settings, snap, timeout_s=600)
        t0 = time.monotonic()
        (result,) = check_tables(settings, snap, [spec])
        seconds = time.monotonic() - t0
    print(json.dumps({"seconds": round(seconds, 1), **result.as_dict()}))
    return 0


def run_gate(env: dict[str, str]) -> dict[str, Any]:
    """The gate in a child process: its result, wall seconds and peak resident memory."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.large_table", "gate"], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"the quality gate exited {proc.returncode}: {out[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "wall_seconds": round(time.monotonic() - t0, 1),
        "check_seconds": result.pop("seconds"),
        "peak_rss_mib": usage.ru_maxrss // 1024,
        "passed": result["passed"],
        "source_rows": result["source_rows"],
        "lake_rows": result["lake_rows"],
        "buckets": result["buckets"],
        "buckets_differing": result["buckets_differing"],
        "problems": result["problems"],
    }


def phase_totals(batches: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per merge phase, summed over the batches that read records."""
    totals: dict[str, float] = {}
    for b in batches:
        if b["records"]:
            for phase, seconds in b["phases"].items():
                totals[phase] = round(totals.get(phase, 0.0) + seconds, 1)
    return totals


def measure(rows: int) -> dict[str, Any]:
    """Start the phase's own stack with kind's heaps, run the snapshot through the merge, measure."""
    from lakehouse.settings import get_settings
    from stackctl.ephemeral import ephemeral_stack, run_tool

    from bench.run import StreamRunner, kafka_count, spark_jvm_pid

    memory = kind_memory()
    root = Path(tempfile.mkdtemp(prefix="lakehouse-bench-large-"))
    registry = yaml.safe_load((REPO / "config" / "tables.yaml").read_text())
    registry["tables"] = [{"source": TABLE, "primary_key": ["id"], "iceberg": "silver.wide"}]
    (root / "tables.yaml").write_text(yaml.safe_dump(registry))
    extra = {
        "LAKEHOUSE_CONNECT_HEARTBEAT_INTERVAL_MS": "1000",
        "LAKEHOUSE_STACK_KAFKA_HEAP": f"{memory['kafka']['heap_mib']}m",
        "LAKEHOUSE_STACK_CONNECT_HEAP": f"{memory['connect']['heap_mib']}m",
        "LAKEHOUSE_MERGE_DRIVER_MEMORY": f"{memory['spark']['heap_mib']}m",
    }
    log(f"starting a private stack under {root} with kind's heaps {json.dumps(extra)}")
    with ephemeral_stack(root, root / "tables.yaml", extra) as env:
        os.environ.clear()
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        run_tool(env, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", DDL)
        log(f"generating {rows:,} rows ({PAYLOAD_BYTES} B bytea, {TEXT_CHARS} B text each)")
        generate_s = generate(settings.source.conninfo(), rows)

        from spark_iceberg.session import build_session

        spark = build_session(settings, app_name="cdc-merge-bench-large")
        run_dir = Path(settings.stack.dir) / "run"
        pids = {
            "kafka": int((run_dir / "kafka.pid").read_text()),
            "connect": int((run_dir / "connect.pid").read_text()),
            "spark": spark_jvm_pid(spark) or 0,
        }
        sampler = PeakMemory(pids)
        sampler.start()
        runner = StreamRunner(spark, settings, [TABLE])
        topic = settings.registry().topic(settings.registry().by_source(TABLE))
        try:
            log("applying the connector: Debezium's initial snapshot starts, the merge streams beside it")
            run_tool(env, "lakehouse-connectors", "apply")
            t0 = time.time()
            runner.start()
            in_kafka: float | None = None
            last_report = 0.0
            while runner.visible_at(TABLE, rows) is None and runner.error is None:
                time.sleep(1)
                if in_kafka is None and kafka_count(settings.kafka.bootstrap_servers, topic) >= rows:
                    in_kafka = time.time() - t0
                    log(f"all {rows:,} snapshot events in Kafka after {in_kafka:.0f}s")
                if time.time() - last_report >= 30:
                    last_report = time.time()
                    merged = max((sum(e.values()) for _, tbl, e in runner.commits if tbl == TABLE), default=0)
                    log(
                        f"{time.time() - t0:.0f}s: {kafka_count(settings.kafka.bootstrap_servers, topic):,} events "
                        f"in Kafka, {merged:,} merged; peak MiB {sampler.peaks()}"
                    )
            runner.stop.set()
            runner.join()
            if runner.error:
                raise runner.error
            done = (runner.visible_at(TABLE, rows) or time.time()) - t0
            first = next((t for t, tbl, e in runner.commits if tbl == TABLE and sum(e.values()) > 0), t0) - t0
        finally:
            runner.stop.set()
            sampler.stop.set()
            spark.stop()
        peaks = sampler.peaks()
        silver_writes = [str(b.get("silver_write")) for b in runner.batches if b["records"]]
        silver_writes = [f"{w} x{silver_writes.count(w)}" for w in sorted(set(silver_writes))]
        log(f"all {rows:,} rows in silver after {done:.0f}s (first row after {first:.0f}s); peak MiB {peaks}")
        log("running the quality gate on the whole table (a process of its own)")
        gate_result = run_gate(env)
        log(
            f"quality gate: {'passed' if gate_result['passed'] else 'FAILED'} in {gate_result['check_seconds']}s, "
            f"peak {gate_result['peak_rss_mib']} MiB"
        )
    jvms = {
        name: {
            "peak_rss_mib": peaks[name],
            "heap_mib": memory[name]["heap_mib"],
            "kind_limit_mib": memory[name]["limit_mib"],
            "within_kind_limit": 0 < peaks[name] <= memory[name]["limit_mib"],
        }
        for name in pids
    }
    return {
        "table": TABLE,
        "rows": rows,
        "row_bytes": {"bytea": PAYLOAD_BYTES, "text": TEXT_CHARS},
        "generate_seconds": round(generate_s, 1),
        "debezium_snapshot_seconds": round(in_kafka, 1) if in_kafka else None,
        "debezium_rows_per_s": round(rows / in_kafka, 1) if in_kafka else None,
        "first_row_in_silver_seconds": round(first, 1),
        "all_rows_in_silver_seconds": round(done, 1),
        "end_to_end_rows_per_s": round(rows / done, 1),
        "merge_batches": len([c for c in runner.commits if c[1] == TABLE]),
        "merge_seconds_by_phase": phase_totals(runner.batches),
        "silver_writes": silver_writes,
        "jvms": jvms,
        "quality_gate": gate_result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="measure", choices=("measure", "gate"))
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--out", type=Path, help="write the phase's figures here as JSON")
    args = parser.parse_args()
    # SIGTERM (the parent bench stopping, a CI timeout): leave through the stack's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.command == "gate":
        return gate()
    report = measure(args.rows)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
