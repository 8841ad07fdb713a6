"""Rounds of random workload with faults at random moments, each checked by the independent checker."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.lake import open_catalog
from lakehouse.settings import get_settings
from stackctl.ephemeral import BIN

from soak.checker import check_round
from soak.faults import KINDS, Faults
from soak.workload import TABLES, SoakWorkload

Say = Callable[[str], None]


@dataclass
class SoakReport:
    """What a soak did and found; written as JSON under bench/results/."""

    seed: int
    duration_s: float
    rounds: int = 0
    changes: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    fault_log: list[str] = field(default_factory=list)
    connector_restarts: int = 0
    merge_failures: int = 0
    rows_compared: int = 0
    bronze_offsets_checked: int = 0
    dead_letters: int = 0
    mismatches: int = 0
    mismatch_details: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (
            f"soak seed {self.seed}: {self.rounds} rounds, {self.changes} changes, faults: {faults}; "
            f"{self.rows_compared} rows compared, {self.bronze_offsets_checked} bronze offsets checked, "
            f"{self.dead_letters} dead letters, {self.connector_restarts} connector restarts needed, "
            f"{self.merge_failures} merge runs failed under faults; {self.mismatches} mismatches "
            f"in {self.seconds:.0f}s"
        )


def _merge_until_clean(env: dict[str, str], tables: list[str], say: Say, attempts: int = 4) -> int:
    """Catch up after a round; a run that fails (a fault still healing) is retried. Returns failures."""
    cmd = [str(BIN / "lakehouse-merge"), "catch-up", "--output", "json"]
    for t in tables:
        cmd += ["--table", t]
    failures = 0
    for attempt in range(attempts):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        if proc.returncode == 0:
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
            batches = json.loads(lines[-1]) if lines else []
            say(
                f"  catch-up merge: {len(batches)} batches, {sum(b['changes'] for b in batches)} changes merged, "
                f"{sum(sum(b['dead_lettered'].values()) for b in batches)} dead-lettered"
            )
            return failures
        failures += 1
        say(f"catch-up merge exited {proc.returncode} (attempt {attempt + 1}): {proc.stderr.strip()[-300:]}")
        time.sleep(5)
    raise RuntimeError(f"the merge did not succeed {attempts} times after a round: {proc.stderr[-2000:]}")


def run_soak(
    env: dict[str, str],
    seed: int,
    duration_s: float,
    say: Say,
    *,
    round_s: float = 60,
    kinds: tuple[str, ...] = KINDS,
    results_dir: Path | None = None,
) -> SoakReport:
    """Soak the stack `env` describes (its tables in the registry, created) until `duration_s` has passed."""
    settings = get_settings()
    registry = settings.registry()
    rng = random.Random(seed)
    report = SoakReport(seed=seed, duration_s=duration_s)
    faults = Faults(env, settings.stack.dir, random.Random(rng.random()), say)
    workload = SoakWorkload(settings.source.conninfo(), seed)
    workload.setup()
    tables = [t["source"] for t in TABLES]
    fault_counts: Counter[str] = Counter()
    started = time.monotonic()
    # Every fault kind is injected at least once, in a seeded order, then at random.
    plan = list(kinds)
    rng.shuffle(plan)
    try:
        while plan or time.monotonic() - started < duration_s:
            report.rounds += 1
            kind = plan.pop() if plan else rng.choice(kinds)
            at = rng.uniform(0.1, 0.7) * round_s
            say(f"round {report.rounds}: workload for {round_s:.0f}s, {kind} at {at:.0f}s")
            fault_error: list[BaseException] = []

            def inject(kind: str = kind, at: float = at, fault_error: list[BaseException] = fault_error) -> None:
                time.sleep(at)
                try:
                    done = faults.inject(kind, tables)
                    report.fault_log.append(f"round {report.rounds}: {done}")
                    say(f"  fault: {done}")
                except BaseException as exc:  # noqa: BLE001 - reported by the round
                    fault_error.append(exc)

            injector = threading.Thread(target=inject, daemon=True)
            injector.start()
            round_end = time.monotonic() + round_s
            while time.monotonic() < round_end:
                roll = rng.random()
                try:
                    if roll < 0.08:
                        workload.idle(rng.uniform(1, 6))
                    elif roll < 0.2:
                        workload.burst(rng.randint(20, 80))
                    else:
                        workload.step()
                except Exception as exc:  # noqa: BLE001 - PostgreSQL restarting under the workload
                    say(f"  workload paused ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
                    workload.conn.close()
                    time.sleep(3)
                    workload = _reconnect(workload, settings.source.conninfo(), say)
            injector.join(timeout=1800)
            if fault_error:
                raise RuntimeError(f"injecting {kind} failed: {fault_error[0]}") from fault_error[0]
            fault_counts[kind] += 1
            workload.finish_long_transaction()
            faults.connector_running()
            subprocess.run(
                [str(BIN / "lakehouse-connectors"), "wait-captured", "--timeout", "600"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=700,
            )
            report.merge_failures += _merge_until_clean(env, tables, say)
            check = check_round(
                settings.source.conninfo(),
                settings.kafka.bootstrap_servers,
                open_catalog(settings),  # a new one each round: a PostgreSQL restart ends pooled sessions
                TABLES,
                registry.cdc.topic_prefix,
                registry.lake.bronze_namespace,
                registry.lake.dead_letter_table,
            )
            report.rows_compared += check.rows_compared
            report.bronze_offsets_checked = check.bronze_offsets
            report.dead_letters = check.dead_letters
            if check.mismatches:
                report.mismatches += check.mismatches
                details = [f"round {report.rounds} {t.table}: {m}" for t in check.tables for m in t.mismatches]
                report.mismatch_details += (details + [f"round {report.rounds}: {p}" for p in check.problems])[:50]
            say(
                f"  checked: {check.rows_compared} rows equal-compared, {check.bronze_offsets} bronze offsets, "
                f"{check.dead_letters} dead letters, {check.mismatches} mismatches"
            )
            if check.mismatches:
                for line in report.mismatch_details[-10:]:
                    say(f"  MISMATCH {line}")
                break  # the state is kept for inspection; the seed replays it
    finally:
        workload.close()
        report.changes = workload.stats.changes
        report.ops = dict(workload.stats.ops)
        report.faults = dict(fault_counts)
        report.connector_restarts = faults.connector_restarts
        report.seconds = round(time.monotonic() - started, 1)
        if results_dir is not None:
            results_dir.mkdir(parents=True, exist_ok=True)
            path = results_dir / f"soak-{time.strftime('%Y%m%dT%H%M%S')}-seed{seed}.json"
            path.write_text(json.dumps(asdict(report), indent=2, default=str))
            say(f"results: {path}")
    return report


def _reconnect(old: SoakWorkload, conninfo: str, say: Say) -> SoakWorkload:
    """The same workload (its random state and counters) on a new connection once PostgreSQL is back."""
    import psycopg

    deadline = time.monotonic() + 180
    while True:
        try:
            old.conn = psycopg.connect(conninfo, autocommit=True)
            old._long = None  # a transaction open at the crash was rolled back by it
            return old
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def soak_tables() -> list[dict[str, Any]]:
    """The registry entries the soak needs next to the platform's own."""
    return [dict(t) for t in TABLES]
