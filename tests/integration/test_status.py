"""Pipeline visibility: ingest workers and gateways report into the status endpoint and /healthz."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from envgrid_cloud.ingest import worker as worker_module
from envgrid_common.messages import GatewayStatus, NodeState
from envgrid_common.topics import Topics
from tests.integration.test_api_support import api
from tests.integration.test_ingest_support import (
    NODES,
    count,
    ingest_settings,
    publisher,
    reading,
    running,
    seed_nodes,
)
from tests.polling import wait_until


def gateway_status(pending: int, ts: datetime) -> bytes:
    status = GatewayStatus(
        state=NodeState.ONLINE, ts=ts, counters={"pending": pending, "forwarded": 7}
    )
    return status.model_dump_json().encode()


async def status_of(database_url: str) -> dict[str, object]:
    async with api(database_url) as client:
        body: dict[str, object] = (await client.get("/api/v1/status")).json()
        health = (await client.get("/healthz")).json()
    return {"status": body, "health": health}


def test_workers_and_gateways_show_up_with_their_counters(
    migrated_url: str, mqtt_url: str, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "HEARTBEAT_INTERVAL_S", 0.2)
    seed_nodes(migrated_url)
    settings = ingest_settings(migrated_url, mqtt_url, topics)
    now = datetime.now(UTC)
    with running(settings, 0) as worker, publisher(mqtt_url) as pub:
        for seq in range(5):
            pub.publish(topics.readings(NODES[0]), reading(seq))
        pub.publish(topics.readings(NODES[0]), b"{broken")
        gw = topics.gateway_status("gw-status-test")
        pub.publish(gw, gateway_status(12, now), retain=True)
        pub.publish(gw, gateway_status(3, now - timedelta(minutes=1)), retain=True)  # older
        pub.publish(topics.gateway_status("gw-bad"), b'{"state": "sleepy"}')
        pub.flush()
        wait_until(lambda: count(migrated_url, "readings") == 5, what="5 readings")
        wait_until(lambda: count(migrated_url, "gateways") == 1, what="the gateway row")
        wait_until(lambda: worker.stats.lag_s == 0.0)
        report = asyncio.run(status_of(migrated_url))
        pub.publish(gw, b"", retain=True)  # leave no retained message behind

    status, health = report["status"], report["health"]
    assert isinstance(status, dict)
    assert isinstance(health, dict)
    (mine,) = [w for w in status["workers"] if w["client_id"] == worker.client_id]
    assert mine["live"] is True
    assert mine["stored"] == 5
    assert mine["dead_lettered"] >= 1
    (gateway,) = status["gateways"]
    assert gateway["id"] == "gw-status-test"
    assert gateway["counters"]["pending"] == 12, "an older report replaced a newer one"
    assert status["dead_letters"]["total"] == 2  # the broken reading and the bad gateway status
    assert status["ingest_lag_s"] is not None
    assert health["gateway_pending"] == 12
    assert health["dead_letters_last_hour"] == 2
    assert health["ingest_lag_s"] is not None


def test_status_is_empty_but_valid_before_anything_reports(migrated_url: str) -> None:
    report = asyncio.run(status_of(migrated_url))
    status = report["status"]
    assert isinstance(status, dict)
    assert status["workers"] == []
    assert status["gateways"] == []
    assert status["ingest_lag_s"] is None
    assert orjson.loads(orjson.dumps(status["dead_letters"]))["total"] == 0
