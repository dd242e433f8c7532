"""What the desk's pages share with the API: its settings, connection pools and the live feed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from envgrid_cloud.api.database import Pool
from envgrid_cloud.api.live_scope import LiveScope
from envgrid_cloud.cases.feed import CaseFeed
from envgrid_cloud.cases.pool import SyncPool
from envgrid_cloud.desk.live_cases import LiveCases
from envgrid_cloud.settings import CloudSettings


@dataclass(frozen=True, slots=True)
class Desk:
    """The API app the desk is mounted on; its state holds what the lifespan opened."""

    app: FastAPI
    settings: CloudSettings
    live_cases: LiveCases

    @property
    def pool(self) -> Pool:
        """The API's async connection pool."""
        pool: Pool = self.app.state.pool
        return pool

    @property
    def case_pool(self) -> SyncPool:
        """The case store's pool (moves run in a thread, as the API's do)."""
        pool: SyncPool = self.app.state.case_pool
        return pool

    @property
    def feed(self) -> CaseFeed:
        """Every case change as it happens."""
        feed: CaseFeed = self.app.state.case_feed
        return feed

    @property
    def live_scope(self) -> LiveScope:
        """Which changes a user may see."""
        scope: LiveScope = self.app.state.live_scope
        return scope


_desk: Desk | None = None


def set_desk(desk: Desk) -> None:
    """Remember the app the desk is mounted on (one per process: NiceGUI is a singleton)."""
    global _desk
    _desk = desk


def desk() -> Desk:
    """The desk of this process."""
    if _desk is None:
        raise RuntimeError("the desk is not mounted")
    return _desk
