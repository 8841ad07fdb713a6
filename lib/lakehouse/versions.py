"""Reads config/versions.env, the one file that pins every component version."""

from __future__ import annotations

import shlex
from functools import lru_cache
from pathlib import Path

VERSIONS_FILE = Path(__file__).resolve().parents[2] / "config" / "versions.env"


@lru_cache(maxsize=1)
def versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """NAME -> version for every entry of the versions file."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: line {raw!r} is not NAME=value")
        out[name.strip()] = shlex.split(value)[0] if value.strip() else ""
    return out
