"""The live feed: one LISTEN on ``envgrid_cases``, fanned out to every connected client.

Each client has a bounded queue. A client that falls that far behind is dropped (its stream
ends, it reconnects) rather than slowing the others or growing memory without bound. The
listening connection is re-established with backoff when the database goes away; clients are
then sent a 'resync' event, since changes made meanwhile were not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection

from envgrid_cloud.cases.notify import CHANNEL

log = logging.getLogger("envgrid.cases.feed")

QUEUE_SIZE = 256  # events a client may fall behind by before it is dropped
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
# A silent network can hide a dead connection: check it after this long without a message.
PROBE_AFTER_S = 30.0
STARTUP_WAIT_S = 5.0  # the app's startup waits this long for LISTEN to be in effect

Message = tuple[str, str]  # SSE event name, JSON data


@dataclass(eq=False)
class Subscriber:
    """One client's queue; ``dropped`` once it fell behind."""

    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class CaseFeed:
    """Listens for case changes and hands each to every subscriber."""

    def __init__(self, database_url: str, queue_size: int = QUEUE_SIZE) -> None:
        self._database_url = database_url
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()  # set while LISTEN is in effect
        self.published_at = time.monotonic()  # the last message (the desk sweeps when quiet)

    @property
    def subscribers(self) -> int:
        """How many clients are connected."""
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        """A new client's queue."""
        subscriber = Subscriber(asyncio.Queue(self._queue_size))
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a client (its stream ended)."""
        self._subscribers.discard(subscriber)

    def publish(self, event: str, data: str) -> None:
        """Queue a message for every client; drop those whose queue is full."""
        self.published_at = time.monotonic()
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait((event, data))
            except asyncio.QueueFull:
                subscriber.dropped = True
                self._subscribers.discard(subscriber)
                log.warning("live feed: a client fell %d events behind; dropped", self._queue_size)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        backoff, heard_before = BACKOFF_MIN_S, False
        while True:
            try:
                async with await AsyncConnection.connect(
                    self._database_url, autocommit=True, application_name="envgrid-case-feed"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    if heard_before:
                        self.publish("resync", "{}")
                    heard_before, backoff = True, BACKOFF_MIN_S
                    await self._relay(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("live feed: lost the database (%s); retrying in %.1fs", exc, backoff)
            finally:
                self.ready.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _relay(self, conn: AsyncConnection[Any]) -> None:
        while True:
            async for note in conn.notifies(timeout=PROBE_AFTER_S):
                self.publish("case", note.payload)
            await conn.execute("SELECT 1")  # raises if the connection died quietly

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until listening, at most ``timeout_s``; whether it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        return self.ready.is_set()
