"""One logging setup for every service: structured lines to stdout."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log to stdout at `level` (services pass LAKEHOUSE_LOG_LEVEL from the settings)."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, stream=sys.stdout, force=True)
    # py4j logs every gateway call at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"lakehouse.{name}")
