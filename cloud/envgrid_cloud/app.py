"""The cloud's HTTP API: ``create_app(settings)`` builds it, uvicorn serves it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from envgrid_cloud.api import (
    API_PREFIX,
    cases,
    dead_letters,
    grid,
    health,
    latest,
    metrics,
    nodes,
    officers,
    readings,
    sites,
    status,
)
from envgrid_cloud.api.database import describe, open_pool
from envgrid_cloud.api.errors import install_handlers
from envgrid_cloud.settings import CloudSettings
from envgrid_common import __version__

log = logging.getLogger("envgrid.api")

DESCRIPTION = """\
envgrid: pollution sources watched by sensor and camera nodes, read by township grid officers.

Times are stored in UTC and returned in Asia/Shanghai (`+08:00`); a time sent without an
offset is read as Asia/Shanghai. 时间以北京时间（+08:00）返回。
"""


def _lifespan(settings: CloudSettings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Fails here, before the server accepts a request, if the database is unreachable.
        pool = await open_pool(settings.database_url)
        log.info("API using the database %s", describe(settings.database_url))
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return lifespan


# One router per resource, all under /api/v1; health sits at the root for probes.
RESOURCES = (
    metrics,
    grid,
    sites,
    nodes,
    officers,
    latest,
    readings,
    cases,
    dead_letters,
    status,
)


def create_app(settings: CloudSettings) -> FastAPI:
    """The API application; its lifespan opens and closes the database pool."""
    app = FastAPI(
        title="envgrid",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        lifespan=_lifespan(settings),
    )
    install_handlers(app)
    app.include_router(health.router)
    for resource in RESOURCES:
        app.include_router(resource.router, prefix=API_PREFIX)
    return app
