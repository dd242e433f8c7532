"""Child processes that die with their parent, whatever it died of, and restart after a back-off."""

# Linux sends a child its parent-death signal (prctl(PR_SET_PDEATHSIG)) when the *thread* that
# forked it ends, not the process: children are therefore started from the main thread, or from
# one daemon thread that lives as long as the process (start_child sees to it). Elsewhere a
# Python child watches its parent from a thread; other programs are not bound.

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")
Stream = int | IO[Any] | None

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
# How often the fallback watcher looks at its parent.
PARENT_POLL_S = 0.5


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once, before any fork: a child between fork and exec should do as little as it can.
_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Have this process receive ``sig`` once ``parent_pid``, its parent, has ended."""
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, sig) != 0:
        threading.Thread(
            target=_watch_parent, args=(parent_pid, sig), name="parent-watch", daemon=True
        ).start()
    # The parent may have ended before the request was made: nothing would ever signal us then.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def _watch_parent(parent_pid: int, sig: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os.kill(os.getpid(), sig)


def _bind_to(parent_pid: int, sig: int) -> Callable[[], None]:
    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, sig)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), sig)

    return preexec


def start_child(
    argv: Sequence[str | Path],
    *,
    sig: int = signal.SIGKILL,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, ...)`` whose child receives ``sig`` when this process ends."""

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=start_new_session,
            preexec_fn=None if _PRCTL is None else _bind_to(os.getpid(), sig),
        )

    return on_a_lasting_thread(popen)


class _LastingThread:
    """A daemon thread that runs what it is handed, for as long as the process lives."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="child-starter", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._jobs.get()()

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on this thread and return what it returns (or raise what it raises)."""
        future: Future[T] = Future()

        def job() -> None:
            try:
                future.set_result(work())
            except BaseException as error:
                future.set_exception(error)

        self._jobs.put(job)
        return future.result()


_lasting: _LastingThread | None = None
_lasting_lock = threading.Lock()


def on_a_lasting_thread(work: Callable[[], T]) -> T:
    """Run ``work`` (which starts children) on the main thread or one that never ends."""
    global _lasting
    if threading.current_thread() is threading.main_thread():
        return work()
    with _lasting_lock:
        if _lasting is None:
            _lasting = _LastingThread()
    return _lasting.call(work)


def describe_exit(status: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL``, from a Popen or multiprocessing exit code."""
    if status >= 0:
        return f"exit status {status}"
    try:
        return f"killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"killed by signal {-status}"


@dataclass
class Restarts:
    """Back-off for restarting a child: doubling while it keeps exiting soon after its start."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # A child that ran this long before it exited counts as having worked: the back-off resets.
    healthy_after_s: float = 30.0
    in_a_row: int = 0

    def delay_after(self, ran_s: float) -> float:
        """Count an exit after ``ran_s`` seconds of running; return how long to wait."""
        self.in_a_row = 1 if ran_s >= self.healthy_after_s else self.in_a_row + 1
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (self.in_a_row - 1))
