"""Stopping the simulator's commands cleanly on Ctrl-C or SIGTERM (threads or an event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals() -> tuple[threading.Event, list[str]]:
    """An event that SIGINT and SIGTERM set, and the names of the signals that set it."""
    stop = threading.Event()
    stopped_by: list[str] = []

    def on_signal(number: int, _frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(number).name)
        stop.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    return stop, stopped_by


def loop_stop_on_signals(duration: float | None) -> asyncio.Event:
    """An event on the running loop that SIGINT, SIGTERM or ``duration`` seconds set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    return stop


def forget_loop_signals() -> None:
    """Take SIGINT and SIGTERM back from the running loop (it may already be closing)."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
