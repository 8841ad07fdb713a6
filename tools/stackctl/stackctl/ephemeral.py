"""A throw-away stack in a directory of its own, on free ports: for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stackctl.layout import read_env_file

BIN = Path(sys.executable).parent
PORT_SETTINGS = (
    "POSTGRES",
    "KAFKA",
    "KAFKA_CONTROLLER",
    "CONNECT",
    "MINIO",
    "MINIO_CONSOLE",
    "PREFECT",
    "PREFECT_WORKER",
    "SERVING_API",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_tool(
    env: dict[str, str],
    *argv: str,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run one of the platform's commands (from the same virtualenv) with `env`."""
    tool = BIN / argv[0]
    cmd = [str(tool), *argv[1:]] if tool.exists() else list(argv)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


@contextmanager
def ephemeral_stack(
    root: Path, registry_path: Path, extra_env: dict[str, str] | None = None, keep: bool = False
) -> Iterator[dict[str, str]]:
    """Start a private stack under `root`; yield its full environment; stop and delete it after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "PYICEBERG_"))}
    env.update({"LAKEHOUSE_STACK_DIR": str(root / "state"), "LAKEHOUSE_REGISTRY_PATH": str(registry_path)})
    env.update({f"LAKEHOUSE_STACK_{name}_PORT": str(free_port()) for name in PORT_SETTINGS})
    env.update(extra_env or {})
    try:
        run_tool(env, "lakehouse-stack", "up")
        env.update(read_env_file(root / "state" / "stack.env"))
        yield env
    finally:
        if not keep:
            run_tool(env, "lakehouse-stack", "clean", check=False)
