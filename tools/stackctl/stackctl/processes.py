"""Starting, tracking and stopping the stack's detached processes by pid file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A stack operation failed; the message names the component and the fix."""


def pid_alive(pid: int) -> bool:
    """True if a process with `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in `pidfile` if that process still runs."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def start_detached(
    argv: Sequence[str],
    *,
    log: Path,
    pidfile: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start `argv` in its own session (as `user` if given), output appended to `log`; record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pidfile: Path, *, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> bool:
    """Signal the process in `pidfile` and wait for it to exit (SIGKILL after `timeout_s`)."""
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            break
        time.sleep(0.2)
    _reap(pid)
    pidfile.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # A child of this very process stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_until(
    check: Callable[[], bool], *, what: str, timeout_s: float, log: Path | None = None, pidfile: Path | None = None
) -> None:
    """Poll `check` until it returns True; fail naming `what` and the log on timeout or exit."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a failing probe means "not ready yet"
            pass
        if pidfile is not None and read_pid(pidfile) is None:
            raise StackError(f"{what} exited during start-up; see {log}\n{tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout_s:.0f}s; see {log}\n{tail(log)}")
        time.sleep(0.5)


def tail(log: Path | None, lines: int = 15) -> str:
    """The last lines of a log file, indented, for error messages."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in text)
