"""`lakehouse-serving-api`: run the read-only HTTP API over the serving store (gold tables)."""

from __future__ import annotations

import argparse
import signal
import sys

from lakehouse.logs import configure_logging, get_logger
from lakehouse.settings import ConfigError, get_settings

log = get_logger("serving-api")

# Seconds uvicorn lets in-flight requests finish after SIGTERM before cancelling them.
GRACEFUL_SHUTDOWN_S = 10


def build_parser() -> argparse.ArgumentParser:
    """The command line: `serve [--host H] [--port P]`."""
    parser = argparse.ArgumentParser(prog="lakehouse-serving-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the API until SIGTERM/SIGINT",
        description="Serve the API under uvicorn, logging to stdout. SIGTERM/SIGINT finish in-flight requests, "
        "close the store pool and exit 0.",
    )
    serve.add_argument("--host", help="address to bind (default: LAKEHOUSE_SERVING_API_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to bind (default: LAKEHOUSE_SERVING_API_PORT, 8000)")
    return parser


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {value}")
    return value


def serve(host: str | None, port: int | None) -> int:
    """Run uvicorn on host:port (defaults from the settings) until a signal stops it."""
    try:
        settings = get_settings().require("serving")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serving = settings.serving
    configure_logging(settings.log_level)

    import uvicorn

    from serving_api.app import create_app

    bind_host, bind_port = host or serving.api_host, port or serving.api_port
    log.info("serving API on http://%s:%s", bind_host, bind_port)
    # uvicorn handles SIGTERM/SIGINT (graceful shutdown), then re-raises the signal so the process
    # would "die of it" (or print a KeyboardInterrupt trace); these handlers turn that re-raise into
    # exit status 0, a clean stop for supervisors.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    uvicorn.run(
        create_app(serving),
        host=bind_host,
        port=bind_port,
        # None: keep our stdout logging (configure_logging) instead of uvicorn's stderr handlers.
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    # uvicorn itself exits 1 when it cannot bind (port taken), 3 when start-up fails; a return is a clean stop.
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port)
    return 2  # unreachable: argparse requires a known command


if __name__ == "__main__":
    sys.exit(main())
