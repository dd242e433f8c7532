"""A page that follows case changes as they happen: the feed's changes, handed to the page."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from nicegui import background_tasks, ui
from nicegui.client import Client

from envgrid_cloud.desk.context import desk

log = logging.getLogger("envgrid.desk")

CONNECT_WAIT_S = 30.0  # a page whose browser never connects stops listening after this

Hear = Callable[[str, str], Awaitable[None]]  # (event, data) of each change
Resync = Callable[[], Awaitable[None]]  # changes may have been missed: read afresh


def follow_cases(client: Client, slot: ui.element, hear: Hear, resync: Resync) -> None:
    """Hand every case change to ``hear`` within ``slot`` while the page is open."""
    task = background_tasks.create(_follow(client, slot, hear, resync), name="desk live")
    client.on_delete(task.cancel)


async def _follow(client: Client, slot: ui.element, hear: Hear, resync: Resync) -> None:
    feed = desk().feed
    with contextlib.suppress(TimeoutError):
        await client.connected(timeout=CONNECT_WAIT_S)
    if not client.has_socket_connection:
        return
    while True:
        subscriber = feed.subscribe()
        try:
            while not subscriber.dropped:
                event, data = await subscriber.queue.get()
                try:
                    with slot:  # the page's slot: a background task has none of its own
                        if event == "resync":
                            await resync()
                        else:
                            await hear(event, data)
                except Exception:  # one bad change must not stop the page from hearing
                    log.exception("desk: could not show a case change (%s)", data[:200])
        finally:
            feed.unsubscribe(subscriber)
        with slot:
            await resync()  # it fell behind: start again from the database
