"""The desk on the API's app: ``create_desk_app(settings)`` is what ``envgrid cloud`` serves.

NiceGUI is one per process (its pages and its app are module globals), so the desk is mounted on
the one app a process serves, never on the apps tests build by the dozen with ``create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from nicegui import ui
from starlette.routing import Match, Mount
from starlette.types import Scope

from envgrid_cloud.api import API_PREFIX
from envgrid_cloud.app import create_app
from envgrid_cloud.cases.feed import CaseFeed
from envgrid_cloud.desk.context import Desk, set_desk
from envgrid_cloud.desk.heap import keep_heap
from envgrid_cloud.desk.live_cases import LiveCases
from envgrid_cloud.settings import CloudSettings

RECONNECT_S = 10.0  # a phone that loses signal this long gets its page back as it was


class DeskMount(Mount):
    """NiceGUI at ``/``, except under the API's prefix: an unknown API path stays a JSON 404
    (or 405) from the API instead of becoming a desk page."""

    def matches(self, scope: Scope) -> tuple[Match, Any]:
        """No match under the API's prefix; otherwise as any mount at ``/``."""
        path: str = scope.get("path", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return Match.NONE, {}
        return super().matches(scope)


def _register_pages() -> None:
    # Importing a page module registers its @ui.page routes with NiceGUI.
    from envgrid_cloud.desk import (  # noqa: F401
        assessment_page,
        case_page,
        cases_page,
        login_page,
        map_page,
        site_page,
    )


def mount_desk(app: FastAPI, settings: CloudSettings) -> None:
    """Serve the desk's pages from ``app`` (zh-CN by default), next to the API."""
    set_desk(Desk(app, settings, LiveCases(lambda: app.state.pool)))
    _register_pages()
    ui.run_with(
        app,
        mount_path="/",
        title="envgrid",
        language="zh-CN",
        favicon="🌿",
        reconnect_timeout=RECONNECT_S,
        show_welcome_message=False,
    )
    for route in app.router.routes:
        if isinstance(route, Mount) and route.path == "":
            route.__class__ = DeskMount
    _keep_heap_while_serving(app)


def _keep_heap_while_serving(app: FastAPI) -> None:
    # Around the app's lifespan (the API's and NiceGUI's): the feed exists once it has started.
    serving = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with serving(app) as state:
            feed: CaseFeed = app.state.case_feed
            keeper = asyncio.create_task(
                keep_heap(lambda: time.monotonic() - feed.published_at), name="desk heap"
            )
            try:
                yield state
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    app.router.lifespan_context = lifespan


def create_desk_app(settings: CloudSettings) -> FastAPI:
    """The API with the desk at ``/``."""
    app = create_app(settings, home=False)
    mount_desk(app, settings)
    return app
