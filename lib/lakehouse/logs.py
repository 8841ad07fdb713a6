"""One logging setup for every service: structured lines to stdout."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Log to stdout at `level` (default INFO, or LAKEHOUSE_LOG_LEVEL)."""
    chosen = (level or os.environ.get("LAKEHOUSE_LOG_LEVEL", "INFO")).upper()
    logging.basicConfig(level=chosen, format=_FORMAT, stream=sys.stdout, force=True)
    # py4j logs every gateway call at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"lakehouse.{name}")
