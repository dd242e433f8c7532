"""The HTTP API served by uvicorn on a thread: the main thread keeps signals and supervision."""

from __future__ import annotations

import threading

from envgrid_cloud.settings import CloudSettings

# Share of the stop bound that open requests (live-feed streams stay open) get to finish; then
# uvicorn cancels them and the application closes its pools.
GRACEFUL_SHARE = 0.5


class ApiServer:
    """uvicorn serving the API and the desk (:func:`envgrid_cloud.desk.mount.create_desk_app`)
    until asked to stop."""

    def __init__(self, settings: CloudSettings) -> None:
        import uvicorn

        from envgrid_cloud.desk.mount import create_desk_app

        config = uvicorn.Config(
            create_desk_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_level=settings.log_level.lower(),
            # uvicorn takes whole seconds here.
            timeout_graceful_shutdown=max(1, int(settings.stop_timeout_s * GRACEFUL_SHARE)),
        )
        self._server = uvicorn.Server(config)
        # Off the main thread uvicorn installs no signal handlers: the caller owns them.
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self) -> ApiServer:
        """Serve in the background."""
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """False once uvicorn has returned (stopped, or failed to start)."""
        return self._thread.is_alive()

    def request_stop(self) -> None:
        """Ask uvicorn to shut down (it stops accepting at once and lets requests finish)."""
        self._server.should_exit = True

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the shutdown; False if uvicorn is still at it."""
        self._thread.join(max(0.0, timeout_s))
        if self._thread.is_alive():
            self._server.force_exit = True
            return False
        return True
