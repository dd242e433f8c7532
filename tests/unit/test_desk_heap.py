"""The desk's heap keeper: what has lived is frozen, and swept once the desk is quiet."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref

import pytest

from envgrid_cloud.desk import heap


class Looped:
    """An object in a cycle, as a closed page's elements are: only a full collection frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.asyncio
async def test_frozen_garbage_is_swept_when_quiet_and_the_collector_left_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "FREEZE_EVERY_S", 0.01)
    monkeypatch.setattr(heap, "SWEEP_EVERY_S", 0.2)
    quiet_s = [0.0]  # a change every moment
    keeper = asyncio.create_task(heap.keep_heap(lambda: quiet_s[0]))
    try:
        page = Looped()
        closed = weakref.ref(page)
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        del page
        gc.collect()
        assert closed() is not None  # frozen: out of the full collections' reach
        await asyncio.sleep(0.3)
        assert closed() is not None  # the sweep is due, but it waits for a quiet moment
        quiet_s[0] = 60.0
        await asyncio.sleep(0.1)
        assert closed() is None
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    assert gc.get_freeze_count() == 0
