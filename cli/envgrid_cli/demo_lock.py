"""One demo per data directory: an exclusive lock, and no process left over from an earlier demo."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from envgrid_cli.services.processes import carrying, command_line, is_running

LOCK_NAME = "demo.lock"
# Every process a demo starts inherits "<demo pid>:<data dir>" in this variable, so that what
# is left of a demo can be found: ingest workers and brokers keep its fixed MQTT client ids.
OWNER_VARIABLE = "ENVGRID_DEMO_OWNER"


class DataDirBusy(Exception):
    """Another demo, or what is left of one, would share this demo's data or MQTT sessions."""


class DataDirLock:
    """An exclusive ``flock`` on ``<data dir>/demo.lock``, held until this process ends."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir.resolve()
        # Opened without truncating: the holder's pid must stay readable to whoever is refused.
        self._file: IO[str] = (self.data_dir / LOCK_NAME).open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "?"
            self._file.close()
            raise DataDirBusy(
                f"another demo (pid {holder}) is using {self.data_dir}; stop it with: kill {holder}"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def owner_marker(self) -> str:
        """The value of OWNER_VARIABLE for the processes this demo starts."""
        return f"{os.getpid()}:{self.data_dir}"

    def release(self) -> None:
        """Let the next demo start (closing the file drops the lock)."""
        self._file.close()


def leftovers(data_dir: Path) -> dict[int, str]:
    """Processes of earlier demos (pid → command line) that a demo on ``data_dir`` would meet."""
    # Those of a demo on this data directory (while we hold its lock no demo runs there), and
    # those of any demo that has ended: both keep the demo's MQTT client ids, and would take
    # the sessions of this demo's components over, again and again.
    ours = str(data_dir.resolve())
    found: dict[int, str] = {}
    for pid, marker in carrying(OWNER_VARIABLE).items():
        owner, _, directory = marker.partition(":")
        if directory == ours or not (owner.isdigit() and is_running(int(owner))):
            found[pid] = command_line(pid)
    return found


def refuse_leftovers(data_dir: Path, grace_s: float) -> None:
    """Raise DataDirBusy if leftovers of earlier demos are still there after ``grace_s``."""
    # The grace is for an earlier demo that is stopping right now.
    deadline = time.monotonic() + grace_s
    found = leftovers(data_dir)
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = leftovers(data_dir)
    if found:
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in sorted(found.items()))
        raise DataDirBusy(
            "processes of an earlier demo are still running, and would take over this demo's"
            f" MQTT sessions:\n{lines}\nstop them with: kill {' '.join(map(str, sorted(found)))}"
        )
