"""The cloud's HTTP API: ``create_app(settings)`` builds it, uvicorn serves it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline

from envgrid_cloud.api import (
    API_PREFIX,
    assessment,
    audit,
    auth,
    cases,
    channels,
    dead_letters,
    deliveries,
    grid,
    health,
    latest,
    live,
    metrics,
    nodes,
    openapi,
    readings,
    silences,
    sites,
    snapshots,
    status,
    users,
)
from envgrid_cloud.api.audit_trail import AuditTrail
from envgrid_cloud.api.database import describe, open_pool
from envgrid_cloud.api.errors import install_handlers
from envgrid_cloud.api.live_scope import LiveScope
from envgrid_cloud.api.security import UNAUTHORIZED, authenticate
from envgrid_cloud.cases.feed import STARTUP_WAIT_S, CaseFeed
from envgrid_cloud.cases.pool import open_sync_pool
from envgrid_cloud.cases.snapshot_retention import INTERVAL_S as SNAPSHOT_RETENTION_INTERVAL_S
from envgrid_cloud.cases.snapshot_retention import SnapshotRetention
from envgrid_cloud.cases.sweeps import SWEEPS, Sweep, run_periodically
from envgrid_cloud.cases.topic import CaseTopic
from envgrid_cloud.notify.service import start_notifications
from envgrid_cloud.rules.day_close_sweep import DayCloseSweep
from envgrid_cloud.rules.nodata_sweep import NoDataSweep
from envgrid_cloud.settings import CloudSettings
from envgrid_common import __version__

log = logging.getLogger("envgrid.api")

# Silence is judged in minutes (interval × tolerance); a sweep every 30 s is plenty.
NO_DATA_INTERVAL_S = 30.0
# A day that ended without a reading of the next is judged within five minutes of midnight.
DAY_CLOSE_INTERVAL_S = 300.0

DESCRIPTION = """\
envgrid: pollution sources watched by sensor and camera nodes, read by township grid officers.

Times are stored in UTC and returned in Asia/Shanghai (`+08:00`); a time sent without an
offset is read as Asia/Shanghai. 时间以北京时间（+08:00）返回。
"""


def _lifespan(settings: CloudSettings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Fails here, before the server accepts a request, if the database is unreachable.
            pool = await open_pool(settings.database_url)
            stack.push_async_callback(pool.close)
            log.info("API using the database %s", describe(settings.database_url))
            app.state.pool = pool
            app.state.live_scope = LiveScope(pool)
            case_pool = await asyncio.to_thread(open_sync_pool, settings.database_url)
            stack.push_async_callback(asyncio.to_thread, case_pool.close)
            app.state.case_pool = case_pool
            feed = app.state.case_feed = CaseFeed(settings.database_url)
            # Periodic jobs: escalation, no data, and whatever else was added (see cases.sweeps).
            # On the feed's clock the replay drives the sweeps (envgrid_cloud.feed_sweeper).
            wall = [] if settings.clock == "feed" else sweeps_for(settings)
            sweeps: list[Sweep] = list(getattr(app.state, "sweeps", wall))
            app.state.sweeps = sweeps
            tasks = [asyncio.create_task(feed.run(), name="case feed")] + [
                asyncio.create_task(run_periodically(s, case_pool), name=s.name) for s in sweeps
            ]
            if settings.case_topics_enabled:
                # Other systems hear of cases on MQTT (envgrid/v1/cases/{township}/{case}).
                out = CaseTopic(settings.mqtt_url, settings.topics)
                stack.callback(out.start().stop)
                tasks.append(asyncio.create_task(out.run(feed), name="case topics"))
            if settings.notify_enabled:
                # Robots and e-mail from the outbox, reminders (envgrid_cloud.notify).
                tasks += await start_notifications(settings, case_pool, stack)
            stack.push_async_callback(_cancel, tasks)
            # A client of the live feed must not miss what happens just after startup.
            if not await feed.wait_ready(STARTUP_WAIT_S):
                log.warning("the live case feed is not listening yet; it keeps trying")
            yield

    return lifespan


def sweeps_for(settings: CloudSettings) -> list[Sweep]:
    """The periodic jobs of the cloud, in the order they run (reminders apart: notify)."""
    retention = SnapshotRetention.from_settings(settings)
    housekeeping = [Sweep("snapshot retention", SNAPSHOT_RETENTION_INTERVAL_S, retention)]
    if not settings.rules_enabled:
        return [*SWEEPS, *housekeeping]
    return [
        *SWEEPS,
        *housekeeping,
        Sweep("no-data rule", NO_DATA_INTERVAL_S, NoDataSweep()),
        Sweep("daily means after midnight", DAY_CLOSE_INTERVAL_S, DayCloseSweep()),
    ]


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# One router per resource, all under /api/v1 and behind a sign-in or a token; health sits at
# the root for probes, and the login is open.
RESOURCES = (
    metrics,
    grid,
    sites,
    nodes,
    users,
    latest,
    readings,
    cases,
    snapshots,
    dead_letters,
    status,
    audit,
    assessment,
    channels,
    silences,
    deliveries,
)


DOCS_URL = "/docs"


async def _home() -> RedirectResponse:
    """The API's documentation, on an app without the desk."""
    return RedirectResponse(DOCS_URL, status_code=307)


def create_app(settings: CloudSettings, *, home: bool = True) -> FastAPI:
    """The API application; its lifespan opens and closes the database pool.

    ``home``: ``/`` leads to the documentation (the desk, when mounted, has ``/`` instead).
    """
    # Swagger UI and ReDoc from files the fastapi-offline wheel installs: no page of the app
    # loads anything from another host (a township intranet has no internet).
    app = FastAPIOffline(
        title="envgrid",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=DOCS_URL,
        redoc_url="/redoc",
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=_lifespan(settings),
    )
    app.state.settings = settings
    install_handlers(app)
    openapi.install(app)
    if home:
        app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.include_router(health.router)
    app.include_router(auth.router, prefix=API_PREFIX)
    # Before the cases router (whose /cases/{case_id} would take /cases/live); it signs in on a
    # connection of its own rather than hold a pooled one for as long as it streams.
    app.include_router(live.router, prefix=API_PREFIX)
    for resource in RESOURCES:
        app.include_router(
            resource.router,
            prefix=API_PREFIX,
            dependencies=[Depends(authenticate)],
            responses=UNAUTHORIZED,
        )
    app.add_middleware(AuditTrail, prefix=API_PREFIX)
    return app
