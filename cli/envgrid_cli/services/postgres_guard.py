"""Stops an embedded PostgreSQL once its owner closes our stdin, or ends: exits, or is killed."""

# python -m envgrid_cli.services.postgres_guard PGDATA STOP_TIMEOUT_S, started by
# envgrid_cli.services.postgres.EmbeddedPostgres with a pipe as stdin.

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from envgrid_cli.services.postgres import stop_server


class _Terminated(Exception):
    """SIGTERM: stop the server now rather than leave it without a guard."""


def _terminated(_sig: int, _frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: list[str]) -> int:
    """Wait for end of file on stdin, then stop the server in PGDATA."""
    pgdata, timeout_s = Path(argv[0]), float(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the owner, who stops us
    signal.signal(signal.SIGTERM, _terminated)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except _Terminated:
        pass
    stop_server(pgdata, timeout_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
