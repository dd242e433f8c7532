"""Children die with their parent, whatever it died of: real processes, killed for real."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from envgrid_cli.services.processes import is_running
from envgrid_common.lifecycle import Restarts, describe_exit
from tests.polling import wait_until

# A parent that starts a child bound to it, prints the child's pid, then waits to be killed.
POPEN_PARENT = """
from envgrid_common.lifecycle import start_child
import time
print(start_child(["sleep", "60"]).pid, flush=True)
time.sleep(60)
"""
# The same, but the child is started from a thread that ends at once.
THREAD_PARENT = """
from envgrid_common.lifecycle import start_child
import threading, time
pids = []
thread = threading.Thread(target=lambda: pids.append(start_child(["sleep", "60"]).pid))
thread.start()
thread.join()
print(pids[0], flush=True)
time.sleep(60)
"""
# A parent whose Python child binds itself (as the cloud's ingest workers do); FALLBACK=1 makes
# the child do without prctl, as where it does not exist.
PYTHON_CHILD = """
import os, sys, time
from envgrid_common import lifecycle
if sys.argv[2] == "1":
    lifecycle._PRCTL = None
lifecycle.die_with_parent(int(sys.argv[1]))
print("bound", flush=True)
time.sleep(60)
"""
PYTHON_PARENT = f"""
import os, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", {PYTHON_CHILD!r}, str(os.getpid()), sys.argv[1]],
    stdout=subprocess.PIPE,
)
assert child.stdout is not None and child.stdout.readline() == b"bound\\n"
print(child.pid, flush=True)
time.sleep(60)
"""


@contextmanager
def parent(script: str, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run ``script``; yield it and the pid of the child it reports."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        yield process, int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()


def test_a_child_started_with_start_child_dies_when_its_parent_is_sigkilled() -> None:
    with parent(POPEN_PARENT) as (process, child):
        assert is_running(child)
        process.kill()
        wait_until(lambda: not is_running(child), 5, "the child to die with its parent")


def test_a_child_started_from_a_thread_that_ended_lives_on_until_the_parent_dies() -> None:
    with parent(THREAD_PARENT) as (process, child):
        # Bound to the thread that forked it, it would have died when that thread ended.
        with pytest.raises(AssertionError):
            wait_until(lambda: not is_running(child), 1.0, "the child to die too early")
        process.kill()
        wait_until(lambda: not is_running(child), 5, "the child to die with its parent")


@pytest.mark.parametrize("fallback", ["0", "1"], ids=["prctl", "watcher-thread"])
def test_a_python_child_that_binds_itself_dies_with_its_sigkilled_parent(fallback: str) -> None:
    with parent(PYTHON_PARENT, fallback) as (process, child):
        assert is_running(child)
        process.send_signal(signal.SIGKILL)
        wait_until(lambda: not is_running(child), 5, "the child to die with its parent")


def test_a_child_whose_parent_is_already_gone_when_it_binds_dies_at_once() -> None:
    # The parent named is not ours: as if it had died before the request was made.
    script = "import os; from envgrid_common import lifecycle; lifecycle.die_with_parent(1)"
    assert subprocess.run([sys.executable, "-c", script], timeout=30).returncode == -9


def test_back_off_doubles_up_to_its_ceiling_and_resets_after_a_healthy_run() -> None:
    restarts = Restarts(first_delay_s=1, max_delay_s=5, healthy_after_s=30)
    assert [restarts.delay_after(0.5) for _ in range(5)] == [1, 2, 4, 5, 5]
    assert restarts.in_a_row == 5
    assert restarts.delay_after(31) == 1
    assert restarts.in_a_row == 1


def test_exit_statuses_read_as_words() -> None:
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-9) == "killed by SIGKILL"
