"""The desk's heap: open pages kept out of the collector's full passes, swept when it is quiet.

Each open page holds thousands of Python objects (its elements and their bindings: 200 open
lists hold millions), and a full (generation 2) collection walks every one of them: seconds,
during which no case is pushed to anybody. So what has lived a few seconds is frozen (moved out
of the collector's reach: ``gc.freeze`` is a list splice, it costs nothing), and the young
collections that keep running see only what is new. Frozen garbage is never collected, and a
closed page leaves some (NiceGUI's elements hold cycles), so every ``SWEEP_EVERY_S`` the heap
is thawed and swept once, when no case has changed for ``QUIET_S``, or anyway after
``SWEEP_WAIT_S`` more: memory stays bounded by what closes in that time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("envgrid.desk")

FREEZE_EVERY_S = 2.0  # how long a page's objects stay where full collections would walk them
SWEEP_EVERY_S = 600.0
QUIET_S = 5.0
SWEEP_WAIT_S = 600.0


async def keep_heap(quiet_for: Callable[[], float]) -> None:
    """Freeze what has lived, sweep it when quiet (``quiet_for``: seconds since a change)."""
    gc.collect()
    gc.freeze()  # start-up's modules and tables live as long as the process
    swept = time.monotonic()
    try:
        while True:
            await asyncio.sleep(FREEZE_EVERY_S)
            now = time.monotonic()
            if now - swept >= SWEEP_EVERY_S and (
                quiet_for() >= QUIET_S or now - swept >= SWEEP_EVERY_S + SWEEP_WAIT_S
            ):
                swept = now
                gc.unfreeze()
                found = gc.collect()
                log.info(
                    "desk: swept the heap in %.2f s (%d unreachable)",
                    time.monotonic() - now,
                    found,
                )
            else:
                gc.collect(1)  # the young garbage, before what is left of it is frozen
            gc.freeze()
    finally:
        gc.unfreeze()  # the process may go on (tests): leave the collector as it was
