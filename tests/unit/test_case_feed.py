"""The live feed's fan-out: every client gets every message; a slow one is dropped alone."""

from __future__ import annotations

import pytest

from envgrid_cloud.cases.feed import CaseFeed
from envgrid_cloud.cases.notify import MAX_PAYLOAD, encode


@pytest.mark.asyncio
async def test_a_slow_client_is_dropped_and_the_others_still_receive() -> None:
    feed = CaseFeed("postgresql://unused", queue_size=3)
    slow, quick = feed.subscribe(), feed.subscribe()
    for n in range(5):
        feed.publish("case", f'{{"id": {n}}}')
        assert await quick.queue.get() == ("case", f'{{"id": {n}}}')
    assert slow.dropped
    assert not quick.dropped
    assert feed.subscribers == 1
    assert slow.queue.qsize() == 3  # what it had before it fell behind; nothing more is queued
    feed.unsubscribe(quick)
    assert feed.subscribers == 0


def test_a_summary_always_fits_a_notify() -> None:
    body = {
        "id": 1,
        "event": "raised",
        "notified_townships": [f"township-{n:05d}" for n in range(2000)],
    }
    text = encode(body)
    assert len(text.encode()) <= MAX_PAYLOAD
    assert '"truncated":true' in text
    assert encode({"id": 1, "notified_townships": ["a"]}) == '{"id":1,"notified_townships":["a"]}'
