"""Simulator → gateway → cloud → API as separate processes on the machine's broker and database.

Also the walk-through of docs/protocol.md: a reading published with mosquitto_pub is stored
and served; published again it stores nothing new; a malformed one is dead-lettered with a
reason and does not stop the flow.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_common.clock import SHANGHAI
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import Topics
from tests.e2e.support import (
    admin_token,
    clean_env,
    get,
    sites_without_data,
    start,
    stop,
    use_token,
    wait_for,
)

NODE, SITE = "luxi-farm-01-effluent", "luxi-farm-01"


@pytest.fixture
def pipeline(
    tmp_path: Path, migrated_url: str, mqtt_url: str, topic_root: str
) -> Iterator[tuple[str, Topics, Topics, str, tuple[Path, ...]]]:
    """The whole system on the machine's services; yields API base, local and cloud topics."""
    run = uuid.uuid4().hex[:8]
    cloud_root, gateway_id = f"{topic_root}-cloud", f"gw-{run}"
    port = free_port()
    base = clean_env(ENVGRID_TOPIC_ROOT=topic_root, ENVGRID_LOG_LEVEL="INFO")
    cloud_env = {
        **base,
        "ENVGRID_TOPIC_ROOT": cloud_root,
        "ENVGRID_DATABASE_URL": migrated_url,
        "ENVGRID_MQTT_URL": mqtt_url,
        "ENVGRID_API_PORT": str(port),
        "ENVGRID_INGEST_CLIENT_ID": f"ingest-{run}",
        "ENVGRID_INGEST_SHARE_GROUP": f"ingest-{run}",
    }
    loaded = subprocess.run(
        [*_envgrid(), "scenario", "load", "luxi"], env=cloud_env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "17 sites, 22 nodes" in loaded.stdout
    logs = tuple(tmp_path / f"{name}.log" for name in ("cloud", "gateway", "sim"))
    processes = [
        start(["cloud"], cloud_env, logs[0]),
        start(
            ["gateway"],
            {
                **base,
                "ENVGRID_MQTT_URL": mqtt_url,
                "ENVGRID_UPLINK_MQTT_URL": mqtt_url,
                "ENVGRID_UPLINK_TOPIC_ROOT": cloud_root,
                "ENVGRID_GATEWAY_ID": gateway_id,
                "ENVGRID_GATEWAY_BUFFER_PATH": str(tmp_path / "gateway.sqlite"),
            },
            logs[1],
        ),
        start(
            ["sim", "--interval", "1", "--data-dir", str(tmp_path / "sim")],
            {**base, "ENVGRID_MQTT_URL": mqtt_url, "ENVGRID_SIM_CLIENT_ID_PREFIX": f"{run}-"},
            logs[2],
        ),
    ]
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        api = f"http://127.0.0.1:{port}"
        use_token(api, admin_token(migrated_url))
        yield api, Topics(topic_root), Topics(cloud_root), gateway_id, logs
    finally:
        for process in reversed(processes):
            stop(process)


def _envgrid() -> list[str]:
    import sys

    return [sys.executable, "-m", "envgrid_cli"]


def mosquitto_pub(address: BrokerAddress, topic: str, message: str) -> None:
    """Publish exactly as docs/protocol.md tells a user to."""
    binary = shutil.which("mosquitto_pub")
    assert binary, "mosquitto_pub is needed (apt-get install mosquitto-clients)"
    subprocess.run(
        [
            binary,
            "-h",
            address.host,
            "-p",
            str(address.port),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            message,
        ],
        check=True,
        timeout=10,
    )


def points(base: str, seq: int, around: datetime) -> list[dict[str, object]]:
    """Raw COD points of the farm with sequence number ``seq`` near ``around``."""
    series = get(
        base,
        f"/api/v1/sites/{SITE}/readings",
        metric="cod",
        node_id=NODE,
        start=(around - timedelta(minutes=5)).isoformat(),
        end=(around + timedelta(minutes=5)).isoformat(),
    )
    return [p for p in series["points"] if p["seq"] == seq]


def test_simulated_township_reaches_the_api_and_docs_walkthrough_holds(
    pipeline: tuple[str, Topics, Topics, str, tuple[Path, ...]], mqtt_url: str
) -> None:
    base, local, cloud, gateway_id, logs = pipeline
    address = BrokerAddress.parse(mqtt_url)

    # Every simulated site reports through gateway and ingest.
    wait_for("readings for every site", lambda: not sites_without_data(base), 60, logs)

    # Watch the dead-letter topic the way an outside system would.
    dead: list[dict[str, object]] = []
    watcher = new_client(f"watch-{uuid.uuid4().hex[:6]}", address)
    watcher.on_connect = lambda c, *_: c.subscribe(cloud.any_dead_letter(), qos=1)
    watcher.on_message = lambda _c, _u, m: dead.append(orjson.loads(m.payload))
    connect(watcher, address)
    watcher.loop_start()

    now = datetime.now(SHANGHAI).replace(microsecond=0)
    reading = {"seq": 900000001, "ts": now.isoformat(), "values": {"cod": 35.2, "nh3n": 1.4}}
    mosquitto_pub(address, local.readings(NODE), orjson.dumps(reading).decode())
    stored = wait_for("the hand-published reading", lambda: points(base, 900000001, now), 20, logs)
    assert stored[0]["value"] == 35.2
    assert stored[0]["ts"] == now.isoformat()

    # Again, then a malformed one, then a sentinel: the sentinel arriving proves the ingest
    # has handled the two before it (one node topic is delivered in order).
    mosquitto_pub(address, local.readings(NODE), orjson.dumps(reading).decode())
    mosquitto_pub(address, local.readings(NODE), '{"seq": "x"}')
    sentinel = {**reading, "seq": 900000002, "ts": (now + timedelta(seconds=1)).isoformat()}
    mosquitto_pub(address, local.readings(NODE), orjson.dumps(sentinel).decode())
    wait_for("the reading after the malformed one", lambda: points(base, 900000002, now), 20, logs)
    assert len(points(base, 900000001, now)) == 1, "a resent reading was stored twice"

    letters = wait_for(
        "the dead letter in the API",
        lambda: get(base, "/api/v1/dead-letters", source=gateway_id)["items"],
        20,
        logs,
    )
    assert letters[0]["payload"] == '{"seq": "x"}'
    assert "seq" in letters[0]["reason"]
    assert letters[0]["topic"] == local.readings(NODE)
    wait_for("the dead letter on its topic", lambda: dead, 10, logs)
    assert dead[0]["source"] == gateway_id
    watcher.disconnect()
    watcher.loop_stop()

    # A river section over its class III COD limit becomes a case for the village's officer.
    river = "luxi-river-01"
    spill = {"seq": 900000003, "ts": now.isoformat(), "values": {"cod": 45.0}}
    mosquitto_pub(address, local.readings(f"{river}-wq"), orjson.dumps(spill).decode())
    found = wait_for(
        "the case for the hand-published breach",
        lambda: [
            c for c in get(base, "/api/v1/cases", site_id=river)["items"] if c["rule_id"] == "cod"
        ],
        20,
        logs,
    )
    case = get(base, f"/api/v1/cases/{found[0]['id']}")
    assert case["case"]["peak_value"] >= 45.0
    assert case["case"]["state"] == "dispatched"
    assert case["case"]["assignee_id"] == "luxi-dongyang-officer"

    nodes = get(base, "/api/v1/nodes", site_id=SITE)
    assert {n["status"] for n in nodes} == {"online"}
    assert get(base, "/healthz")["status"] == "ok"
