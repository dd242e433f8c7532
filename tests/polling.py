"""Waiting in tests: poll a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "", every_s: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail the test, naming ``what``, on timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(every_s)
