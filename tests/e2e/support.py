"""Running envgrid commands as real processes and polling what they serve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from envgrid_common.lifecycle import start_child
from tests.leftovers import SESSION_VARIABLE

T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ENVGRID_ settings (the run's mark stays), + ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ENVGRID_") or k == SESSION_VARIABLE
    }
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``envgrid ARGS`` as its own process, logging to ``log``; it dies with the test run."""
    with log.open("ab") as out:
        return start_child(
            [sys.executable, "-m", "envgrid_cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    """Signal the process and wait for it; kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, logs: tuple[Path, ...] = ()
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the logs' tails if not."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (httpx.HTTPError, OSError) as error:
            last_error = error
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-25:]) for p in logs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_error})\n{tails}")


# How each API under test is called: a bearer token's or a session cookie's header.
_CREDENTIALS: dict[str, dict[str, str]] = {}


def use_token(base: str, token: str) -> None:
    """Call the API at ``base`` with this API token from now on."""
    _CREDENTIALS[base] = {"Authorization": f"Bearer {token}"}


def sign_in(base: str, login: str, password: str) -> None:
    """Sign in at ``base`` as a browser would, and call it with that session from now on."""
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"login": login, "password": password}, timeout=10
    )
    response.raise_for_status()
    _CREDENTIALS[base] = {"Cookie": f"envgrid_session={response.cookies['envgrid_session']}"}


def admin_token(database_url: str) -> str:
    """An API token of an administrator of ``database_url`` (added if missing)."""
    from envgrid_cloud.auth.accounts import NewUser, add_user, connect, issue_token

    with connect(database_url) as conn:
        if conn.execute("SELECT 1 FROM users WHERE id = 'e2e-admin'").fetchone() is None:
            add_user(conn, NewUser("e2e-admin", "e2e-admin", "e2e", "admin", None), None)
        token, _ = issue_token(conn, "e2e-admin", f"e2e-{uuid.uuid4().hex[:8]}", None)
    return token


def credentials(base: str) -> dict[str, str]:
    """The headers that authenticate a call to the API at ``base``."""
    return _CREDENTIALS.get(base, {})


def get(base: str, path: str, **params: Any) -> Any:
    """GET a JSON document from the API, with the credentials given for it."""
    response = httpx.get(
        f"{base}{path}", params=params, headers=_CREDENTIALS.get(base, {}), timeout=10
    )
    response.raise_for_status()
    return response.json()


def sites_without_data(base: str) -> list[str]:
    """Ids of the sites with a sensor whose latest values are still empty (a site watched by
    cameras alone has no values to show)."""
    sensed = {n["site_id"] for n in get(base, "/api/v1/nodes") if n["kind"] != "camera"}
    return [
        s["id"]
        for s in get(base, "/api/v1/sites")
        if s["id"] in sensed and not get(base, f"/api/v1/sites/{s['id']}/latest")["values"]
    ]
