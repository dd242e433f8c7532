"""Stopping ``record`` and ``replay`` cleanly on Ctrl-C or SIGTERM, remembering which it was."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_signals() -> tuple[threading.Event, list[str]]:
    """An event that SIGINT and SIGTERM set, and the names of the signals that set it."""
    stop = threading.Event()
    stopped_by: list[str] = []

    def on_signal(number: int, _frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(number).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop, stopped_by
