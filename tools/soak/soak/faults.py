"""Faults the soak injects into a running local stack, each by its real mechanism."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from stackctl.ephemeral import BIN, run_tool

Say = Callable[[str], None]
# kill -9 of the merge at a random moment or at a named point inside its commits; two merges
# of the same tables at once; kill -9 of Connect, of Kafka, of MinIO; PostgreSQL stopped in
# immediate mode (SIGQUIT: no checkpoint, crash recovery on start). Locally the Iceberg catalog
# database lives in the same PostgreSQL, so `postgres-immediate` restarts it too.
KINDS = ("merge-kill9", "merge-concurrent", "connect-kill9", "kafka-kill9", "postgres-immediate", "minio-kill9")
MERGE_POINTS = ("before-write", "after-bronze", "after-commit")


class Faults:
    """Injects faults into the stack whose state lives under `stack_dir`."""

    def __init__(self, env: dict[str, str], stack_dir: Path, rng: random.Random, say: Say) -> None:
        self.env, self.stack_dir, self.rng, self.say = env, stack_dir, rng, say
        self.connector_restarts = 0

    def _tool(self, *argv: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run_tool(self.env, *argv, check=check, timeout=timeout)

    def _pid(self, component: str) -> int:
        return int((self.stack_dir / "run" / f"{component}.pid").read_text().strip())

    def _wait_gone(self, pid: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"process {pid} still runs {timeout_s:.0f}s after it was signalled")

    def _kill_and_restart(self, component: str, sig: int = signal.SIGKILL) -> str:
        pid = self._pid(component)
        os.kill(pid, sig)
        self._wait_gone(pid)
        time.sleep(self.rng.uniform(0.5, 3))
        self._tool("lakehouse-stack", "up", "--only", component)
        return f"{component}: signal {sig} to pid {pid}, restarted"

    def merges(self, tables: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
        cmd = [str(BIN / "lakehouse-merge"), "once"]
        for t in tables:
            cmd += ["--table", t]
        return subprocess.Popen(
            cmd, env={**self.env, **(extra or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def inject(self, kind: str, tables: list[str]) -> str:
        """Inject one fault of `kind`; returns what was done."""
        if kind == "merge-kill9":
            if self.rng.random() < 0.4:
                point = self.rng.choice(MERGE_POINTS)
                proc = self.merges(tables, {"LAKEHOUSE_MERGE_FAULT_POINT": point})
                code = proc.wait(timeout=900)
                return f"merge crashed at {point} (exit {code})"
            proc = self.merges(tables)
            delay = self.rng.uniform(2, 25)
            try:
                code = proc.wait(timeout=delay)
                return f"merge finished before its kill at {delay:.1f}s (exit {code})"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return f"merge killed -9 after {delay:.1f}s"
        if kind == "merge-concurrent":
            a, b = self.merges(tables), self.merges(tables)
            codes = [p.wait(timeout=1200) for p in (a, b)]
            return f"two merges of {len(tables)} tables at once (exits {codes})"
        if kind == "connect-kill9":
            return self._kill_and_restart("connect")
        if kind == "kafka-kill9":
            return self._kill_and_restart("kafka")
        if kind == "minio-kill9":
            return self._kill_and_restart("minio")
        if kind == "postgres-immediate":
            return self._kill_and_restart("postgres", signal.SIGQUIT)
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")

    def connector_running(self, timeout_s: float = 120) -> None:
        """Wait for the connector to run again; restart it (counted) if a fault left it FAILED."""
        deadline = time.monotonic() + timeout_s
        restarted = False
        while True:
            if self._tool("lakehouse-connectors", "status", check=False, timeout=60).returncode == 0:
                return
            if time.monotonic() > deadline:
                if restarted:
                    raise RuntimeError("the connector did not run again after a restart: see the Connect log")
                self.say("connector not RUNNING after the fault: restarting it (counted)")
                self._tool("lakehouse-connectors", "restart", timeout=300)
                self.connector_restarts += 1
                restarted = True
                deadline = time.monotonic() + timeout_s
            time.sleep(3)
