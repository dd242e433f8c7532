"""The mark every process started by a test run inherits, and finding those still running."""

from __future__ import annotations

import os
import time
import uuid

from envgrid_cli.services.processes import carrying, command_line

# Keep it when building a child's environment from scratch, or the check cannot see the child.
SESSION_VARIABLE = "ENVGRID_TEST_SESSION"


def mark_session() -> None:
    """Give this run a mark of its own, inherited by every process started from now on."""
    os.environ[SESSION_VARIABLE] = uuid.uuid4().hex


def still_running(grace_s: float) -> dict[int, str]:
    """Processes carrying this run's mark (pid → command line) still alive after ``grace_s``."""
    mark = os.environ.get(SESSION_VARIABLE)
    if not mark:
        return {}
    deadline = time.monotonic() + grace_s
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _marked(mark: str) -> dict[int, str]:
    return {
        pid: command_line(pid) for pid, value in carrying(SESSION_VARIABLE).items() if value == mark
    }
