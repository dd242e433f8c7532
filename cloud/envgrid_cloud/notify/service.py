"""Notifications in the API process: the deliverer and the reminder sweep, started with the app."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx

from envgrid_cloud.cases.pool import SyncPool
from envgrid_cloud.cases.sweeps import Sweep, run_periodically
from envgrid_cloud.notify.deliver import Deliverer, open_notify_pool
from envgrid_cloud.notify.reminders import INTERVAL_S, Reminders
from envgrid_cloud.settings import CloudSettings

REMINDERS = "remind unacknowledged cases"


async def start_notifications(
    settings: CloudSettings, case_pool: SyncPool, stack: AsyncExitStack
) -> list[asyncio.Task[None]]:
    """Start delivering and reminding; what is opened closes with ``stack``, the tasks are the
    caller's to cancel (before the stack closes)."""
    pool = await open_notify_pool(settings.database_url)
    stack.push_async_callback(pool.close)
    # Robots are on the internet or the intranet; a redirect is not followed (the URL is wrong).
    http = httpx.AsyncClient(follow_redirects=False, timeout=settings.notify_timeout_s)
    stack.push_async_callback(http.aclose)
    deliverer = Deliverer(settings, pool, http)
    tasks = [asyncio.create_task(deliverer.run(), name="notifications")]
    if settings.clock == "wall":  # on the feed's clock, the feed sweeper reminds
        reminders = Sweep(REMINDERS, INTERVAL_S, Reminders.from_settings(settings))
        tasks.append(asyncio.create_task(run_periodically(reminders, case_pool), name=REMINDERS))
    return tasks
