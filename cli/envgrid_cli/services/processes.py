"""Finding processes by an environment variable they inherited, from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def carrying(variable: str) -> dict[int, str]:
    """Live processes whose environment has ``variable``, with its value (ours left out)."""
    wanted = variable.encode() + b"="
    found: dict[int, str] = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            # A zombie's environment reads empty: it has ended and is only waiting to be reaped.
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or another user's
        for item in environ.split(b"\0"):
            if item.startswith(wanted):
                found[int(entry.name)] = item[len(wanted) :].decode(errors="replace")
                break
    return found


def command_line(pid: int) -> str:
    """What ``pid`` runs, as one line (empty once it has ended)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and has not ended (a zombie has)."""
    if not PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may contain anything.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, running or not yet reaped."""
    found = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found
