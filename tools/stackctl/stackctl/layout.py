"""Where the local stack keeps its state, and the generated credentials."""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import StackSettings


@dataclass(frozen=True)
class Layout:
    """Paths under the stack directory (default `.local/`)."""

    root: Path

    @classmethod
    def from_settings(cls, stack: StackSettings) -> Layout:
        return cls(stack.dir.resolve())

    def data(self, component: str) -> Path:
        return self.root / "data" / component

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.root / "run" / f"{component}.pid"

    def conf(self, name: str) -> Path:
        return self.root / "conf" / name

    def connect_secrets(self) -> Path:
        """The directory the Connect worker's DirectoryConfigProvider reads secrets from."""
        return self.root / "secrets" / "connect"

    @property
    def stack_env(self) -> Path:
        return self.root / "stack.env"

    @property
    def secrets_env(self) -> Path:
        return self.root / "secrets.env"

    def postgres_home(self) -> Path:
        """PostgreSQL's data directory.

        PostgreSQL refuses to run as root, and a checkout under a 0700 directory (a
        `mktemp -d` clone, /root) is not reachable by the `postgres` user; as root the
        data lives under /var/lib/lakehouse, keyed by this stack directory.
        """
        if os.geteuid() != 0:
            return self.data("postgres")
        key = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/lib/lakehouse") / f"postgres-{key}"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a file of `export NAME=value` lines (as written by `write_env_file`)."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        name, _, value = line.partition("=")
        out[name] = shlex.split(value)[0] if value else ""
    return out


def write_env_file(path: Path, values: dict[str, str], header: str) -> None:
    """Write `export NAME=value` lines, shell-quoted, readable only by the owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


SECRET_NAMES = ("postgres_superuser", "owner", "cdc", "minio_user", "minio_password", "serving_reader")


def load_or_create_secrets(layout: Layout) -> dict[str, str]:
    """Credentials of this stack: generated on the first `up`, then reused."""
    current = read_env_file(layout.secrets_env)
    missing = [n for n in SECRET_NAMES if n not in current]
    if missing:
        for name in missing:
            current[name] = ("lakehouse" if name == "minio_user" else "") + secrets.token_urlsafe(18)
        write_env_file(layout.secrets_env, current, "Generated credentials of the local stack. Keep private.")
    return current
