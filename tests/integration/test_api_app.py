"""The API application as a whole: health, an unreachable database, OpenAPI, real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.routing import APIRoute

from envgrid_cli.services.ports import free_port
from envgrid_cloud.api import (
    API_PREFIX,
    auth,
    database,
    health,
    live,
)
from envgrid_cloud.api.database import DatabaseUnreachable
from envgrid_cloud.app import RESOURCES, create_app
from envgrid_cloud.db.migrate import migrations
from envgrid_cloud.settings import CloudSettings
from envgrid_common import __version__
from tests.conftest import PG_ADMIN_URL
from tests.integration.test_api_support import api, as_user, running, seed

PATHS = {
    "/healthz",
    "/api/v1/metrics",
    "/api/v1/metrics/{name}",
    "/api/v1/grid",
    "/api/v1/grid/{cell_id}",
    "/api/v1/sites",
    "/api/v1/sites/{site_id}",
    "/api/v1/sites/{site_id}/latest",
    "/api/v1/sites/{site_id}/readings",
    "/api/v1/nodes",
    "/api/v1/nodes/{node_id}",
    "/api/v1/sites/{site_id}/rules",
    "/api/v1/users",
    "/api/v1/users/{user_id}",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/auth/password",
    "/api/v1/assessment",
    "/api/v1/assessment/weights",
    "/api/v1/assessment/{township_id}",
    "/api/v1/audit",
    "/api/v1/cases",
    "/api/v1/cases/live",
    "/api/v1/cases/{case_id}",
    "/api/v1/cases/{case_id}/actions",
    "/api/v1/cases/{case_id}/attachments/{event_id}/{index}",
    "/api/v1/dead-letters",
    "/api/v1/status",
    "/api/v1/channels",
    "/api/v1/channels/{channel_id}",
    "/api/v1/channels/{channel_id}/attempts",
    "/api/v1/silences",
    "/api/v1/silences/{silence_id}",
    "/api/v1/silences/{silence_id}/lift",
    "/api/v1/cases/{case_id}/deliveries",
    "/api/v1/cases/{case_id}/snapshots",
    "/api/v1/cases/{case_id}/snapshots/{node_id}/{event_id}",
    "/api/v1/snapshots/false-alarms",
}
# Answers that are not a JSON model: a stream, files, and deletions without a body.
NOT_JSON = {
    ("/api/v1/cases/live", "get"),
    ("/api/v1/cases/{case_id}/attachments/{event_id}/{index}", "get"),
    ("/api/v1/cases/{case_id}/snapshots/{node_id}/{event_id}", "get"),
    ("/api/v1/snapshots/false-alarms", "get"),
}


@pytest.mark.asyncio
async def test_healthz_reports_the_database(migrated_url: str) -> None:
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    async with api(migrated_url) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["timescaledb"] is (row is not None)
    assert body["schema_version"] == max(m.version for m in migrations())
    assert body["server_version"]
    assert body["version"] == __version__
    assert body["time"].endswith("+08:00")


@pytest.mark.asyncio
async def test_healthz_on_an_unmigrated_database_has_no_schema_version(database_url: str) -> None:
    async with api(database_url, token=None) as client:  # /healthz asks for no sign-in
        body = (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["schema_version"] is None


@pytest.mark.asyncio
async def test_healthz_is_503_with_the_reason_when_the_database_goes_away(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(migrated_url)
    monkeypatch.setattr(database, "ACQUIRE_TIMEOUT_S", 1.0)
    name = migrated_url.rpartition("/")[2]
    async with api(migrated_url) as client:
        assert (await client.get("/healthz")).status_code == 200
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        health = await client.get("/healthz")
        sites = await client.get("/api/v1/sites")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unavailable"
    assert body["database"] != "ok"
    assert body["timescaledb"] is None
    # Other endpoints say the database is unavailable (worth a retry), not 500.
    assert sites.status_code == 503
    assert "database is unavailable" in sites.json()["detail"]


@pytest.mark.asyncio
async def test_startup_fails_fast_and_clearly_without_a_database(database_url: str) -> None:
    base = database_url.rpartition("/")[0]
    missing = create_app(CloudSettings(database_url=f"{base}/envgrid_no_such_db"))
    began = time.monotonic()
    with pytest.raises(DatabaseUnreachable, match=r"cannot reach the database .*envgrid_no_such"):
        async with running(missing):
            pass
    refused = create_app(CloudSettings(database_url="postgresql://postgres:secret@127.0.0.1:1/x"))
    with pytest.raises(DatabaseUnreachable, match=r"127\.0\.0\.1:1/x") as caught:
        async with running(refused):
            pass
    assert "secret" not in str(caught.value)
    assert time.monotonic() - began < 10


@pytest.mark.asyncio
async def test_openapi_documents_every_path_with_its_response_model(migrated_url: str) -> None:
    app = create_app(CloudSettings(database_url=migrated_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        doc = (await c.get("/openapi.json")).json()
    assert doc["info"]["title"] == "envgrid"
    assert doc["info"]["version"] == __version__
    # Every route any router declares is documented (no router forgotten in create_app).
    declared = {r.path for r in health.router.routes if isinstance(r, APIRoute)} | {
        API_PREFIX + r.path
        for resource in (*RESOURCES, auth, live)
        for r in resource.router.routes
        if isinstance(r, APIRoute)
    }
    assert set(doc["paths"]) == PATHS == declared
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            if (path, method) in NOT_JSON or "content" not in ok:
                continue
            schema = ok["content"]["application/json"]["schema"]
            assert (
                schema.get("$ref") or schema.get("items", {}).get("$ref") or schema.get("oneOf")
            ), (path, method)
    series = doc["paths"]["/api/v1/sites/{site_id}/readings"]["get"]
    success = series["responses"]["200"]["content"]["application/json"]["schema"]
    assert success["discriminator"]["propertyName"] == "kind"
    params = {p["name"]: p for p in series["parameters"]}
    assert "Asia/Shanghai" in params["start"]["description"]
    assert params["metric"]["required"] is True
    assert doc["paths"]["/healthz"]["get"]["responses"]["503"]
    for model in ("Health", "Metric", "GridCell", "Site", "SiteDetail", "Node", "SiteLatest",
                  "RawSeries", "BucketSeries", "DeadLetters"):  # fmt: skip
        assert model in doc["components"]["schemas"], model


@contextmanager
def uvicorn_thread(database_url: str) -> Iterator[uvicorn.Server]:
    """The app under a real uvicorn on a free port, in a thread."""
    app = create_app(CloudSettings(database_url=database_url))
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)

    def serve() -> None:
        # uvicorn exits with status 3 when the app's startup fails; the test asks server.started.
        with suppress(SystemExit):
            server.run()

    thread = threading.Thread(target=serve, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_real_http_under_uvicorn(migrated_url: str) -> None:
    seed(migrated_url)
    with uvicorn_thread(migrated_url) as server:
        assert server.started
        base = f"http://127.0.0.1:{server.config.port}"
        with httpx.Client(
            base_url=base, timeout=10, headers=as_user(migrated_url, "t-admin")
        ) as client:
            health = client.get("/healthz")
            # A "+" typed into a URL by hand, as curl would send it.
            readings = client.get(
                "/api/v1/sites/farm1/readings?metric=cod&bucket=1d"
                "&start=2026-05-01T00:00:00+08:00&end=2026-05-03T00:00:00+08:00"
            )
            missing = client.get("/api/v1/nodes/ghost")
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    assert readings.status_code == 200, readings.text
    assert [(b["start"], b["count"]) for b in readings.json()["buckets"]] == [
        ("2026-05-01T00:00:00+08:00", 3),
        ("2026-05-02T00:00:00+08:00", 4),
    ]
    assert missing.status_code == 404


def test_uvicorn_does_not_start_without_a_database(database_url: str) -> None:
    base = database_url.rpartition("/")[0]
    with uvicorn_thread(f"{base}/envgrid_no_such_db") as server:
        pass
    assert not server.started


def test_envgrid_cloud_api_only_serves_the_api(migrated_url: str) -> None:
    port = free_port()
    env = {**os.environ, "ENVGRID_DATABASE_URL": migrated_url}
    env.pop("ENVGRID_CONFIG", None)
    command = [sys.executable, "-m", "envgrid_cli", "cloud", "--api-only", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        health: httpx.Response | None = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, "envgrid cloud never answered"
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    assert f"envgrid API on http://127.0.0.1:{port}" in output
