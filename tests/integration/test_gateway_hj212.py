"""The gateway's HJ 212 listener on the machine's Mosquitto: real TCP in, uplink topics out."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import build_frame, format_time, parse_frame
from envgrid_common.messages import GatewayStatus, NodeStatus, Reading
from envgrid_gateway.adapters.hj212 import connection
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from tests.integration.hj212_support import hj212_address
from tests.integration.test_gateway_support import gateway_settings
from tests.integration.test_ingest_support import count, ingest_settings, rows, running, seed_nodes
from tests.mqtt_clients import Collector
from tests.polling import wait_until
from tests.unit.hj212_listener_support import (
    MN,
    NODE,
    PW,
    FakeBridge,
    closed_by_peer,
    read_until,
    upload,
)
from tests.unit.hj212_listener_support import listener as bare_listener

WATER = {"w01018": {"Rtd": "35.2", "Flag": "N"}, "w21003": {"Rtd": "1.4"}}
DEVICES = f"""
devices:
  - mn: "{MN}"
    node: {NODE}
    password: "{PW}"
"""


@pytest.fixture
def settings(mqtt_url: str, topic_root: str, tmp_path: Path) -> GatewaySettings:
    table = tmp_path / "devices.yaml"
    table.write_text(DEVICES, encoding="utf-8")
    return gateway_settings(
        mqtt_url,
        topic_root,
        hj212_listen="127.0.0.1:0",
        hj212_devices=table,
        hj212_idle_s=2.0,
        hj212_max_per_address=3,
    )


def listener(gateway: Gateway) -> socket.socket:
    """A TCP connection to the gateway's HJ 212 listener."""
    return socket.create_connection(hj212_address(gateway), timeout=5)


def readings(collector: Collector, settings: GatewaySettings) -> list[Reading]:
    topic = settings.uplink_topics.readings(NODE)
    return [Reading.model_validate_json(m.payload) for m in collector.on(topic)]


def test_frames_become_readings_upstream_once_answered_and_duplicates_keep_their_identity(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    with listener(gateway) as sock:
        first = upload(qn="20260501080000001", factors={"w01018": {"Rtd": "35.2", "Flag": "N"}})
        sock.sendall(first)
        assert parse_frame(read_until(sock, b"\r\n")).qn == "20260501080000001"
        sock.sendall(first)  # the device did not see the answer and sends again
        assert parse_frame(read_until(sock, b"\r\n")).cn == "9014"
        wait_until(lambda: len(readings(collector, settings)) == 2, 10, "two readings upstream")
        got = readings(collector, settings)
        assert {(r.seq, r.ts) for r in got} == {(got[0].seq, got[0].ts)}  # stored once
        assert got[0].values == {"cod": 35.2}
        assert got[0].flags == {"cod": "N"}


def test_a_bad_frame_is_dead_lettered_with_its_bytes_and_the_next_one_flows(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    bad = bytearray(upload(qn="20260501080000001"))
    bad[-8] = ord("0") if bad[-8] != ord("0") else ord("1")  # a CRC digit changed
    with listener(gateway) as sock:
        sock.sendall(bytes(bad) + upload(qn="20260501080000002"))
        assert parse_frame(read_until(sock, b"\r\n")).qn == "20260501080000002"
    wait_until(lambda: len(readings(collector, settings)) == 1, 10, "the good reading")
    wait_until(lambda: bool(collector.dead_letters(settings.gateway_id)), 10, "a dead letter")
    letter = collector.dead_letters(settings.gateway_id)[0]
    assert letter["reason"].startswith("HJ 212 crc_mismatch")
    assert letter["payload"] == bytes(bad).rstrip().decode()
    assert letter["topic"].startswith("hj212://127.0.0.1:")
    assert gateway.stats["rejected_hj212_crc_mismatch"] == 1


def test_an_unknown_mn_is_pending_and_counted_in_the_gateway_status(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    stranger = "LD130133000015"
    with listener(gateway) as sock:
        for n in range(2):
            sock.sendall(upload(mn=stranger, qn=f"2026050108000000{n}"))
        status_topic = settings.uplink_topics.gateway_status(settings.gateway_id)

        def counted() -> bool:
            statuses = [
                GatewayStatus.model_validate_json(m.payload) for m in collector.on(status_topic)
            ]
            return any(s.counters.get(f"hj212_pending_mn.{stranger}") == 2 for s in statuses)

        wait_until(counted, 10, "the pending MN in the gateway status")
    assert not collector.on(settings.uplink_topics.readings(stranger))
    reasons = [d["reason"] for d in collector.dead_letters(settings.gateway_id)]
    assert len(reasons) == 1
    assert "pending_registration" in reasons[0]


def test_a_disconnect_and_an_idle_connection_take_the_node_offline(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    status = settings.uplink_topics.status(NODE)

    def states() -> list[str]:
        return [NodeStatus.model_validate_json(m.payload).state.value for m in collector.on(status)]

    beat = build_frame(st="32", cn="8013", pw=PW, mn=MN, cp="HeartbeatTime=120", flag=4)
    with listener(gateway) as sock:
        sock.sendall(beat)
        wait_until(lambda: states() == ["online"], 10, "online")
    wait_until(lambda: states() == ["online", "offline"], 10, "offline on disconnect")
    assert all(m.retain for m in collector.on(status))
    with listener(gateway) as sock:
        sock.sendall(beat)
        assert closed_by_peer(sock, 10)  # ENVGRID_HJ212_IDLE_S=2
    wait_until(lambda: states()[-1:] == ["offline"] and len(states()) == 4, 10, "offline idle")


def test_connections_beyond_the_bound_are_refused_and_oversize_frames_dead_lettered(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    open_ones = [listener(gateway) for _ in range(3)]
    try:
        extra = listener(gateway)
        assert closed_by_peer(extra, 5)
        extra.close()
        sock = open_ones[0]
        sock.sendall(b"##2000QN=1;ST=32;" + b"x" * 50 + b"\r\n" + upload(qn="20260501080000003"))
        assert parse_frame(read_until(sock, b"\r\n")).qn == "20260501080000003"
    finally:
        for sock in open_ones:
            sock.close()
    wait_until(lambda: bool(collector.dead_letters(settings.gateway_id)), 10, "a dead letter")
    assert "oversize" in collector.dead_letters(settings.gateway_id)[0]["reason"]
    assert gateway.stats["hj212_connections_refused"] == 1
    json.dumps(gateway.stats)  # the counters travel in the gateway status as they are


def test_frames_are_stored_in_the_cloud_once_with_flags_and_a_late_backlog_historical(
    settings: GatewaySettings, gateway: Gateway, migrated_url: str, mqtt_url: str
) -> None:
    seed_nodes(migrated_url, [NODE])
    cloud = ingest_settings(migrated_url, mqtt_url, settings.uplink_topics)
    now = utc_now().replace(microsecond=0)
    live = upload(qn="20260501080000001", data_time=format_time(now), factors=WATER)
    backlog = upload(
        cn="2061",
        qn="20260501080000002",
        data_time=format_time(now - timedelta(hours=5)),
        factors={"w01018": {"Avg": "41.0", "Flag": "D"}},
    )
    with running(cloud), listener(gateway) as sock:
        for frame in (live, live, backlog):
            sock.sendall(frame)
            read_until(sock, b"\r\n")
        wait_until(lambda: count(migrated_url, "readings") >= 2, 15, "two rows stored")
        time.sleep(0.5)  # the duplicate, had it been stored, would be by now
        stored = rows(migrated_url, "SELECT vals, flags, historical FROM readings ORDER BY ts")
    assert stored == [
        ({"cod": 41.0}, {"cod": "D"}, True),
        ({"cod": 35.2, "nh3n": 1.4}, {"cod": "N"}, False),
    ]


def test_a_client_that_never_reads_its_answers_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # No broker needed, but slow for a unit test: the kernel's buffers fill first.
    monkeypatch.setattr(connection, "MAX_WRITE_BUFFER", 4096)
    bridge = FakeBridge()
    with bare_listener(bridge) as adapter:
        assert adapter.address is not None
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: small window
        sock.connect(adapter.address)
        frames = b"".join(upload(qn=f"202605010800{n:05d}") for n in range(2000))
        sock.settimeout(10)
        with contextlib.suppress(OSError):
            for _ in range(10):
                sock.sendall(frames)
                if adapter.counters().get("hj212_closed_not_reading"):
                    break
        wait_until(lambda: adapter.counters().get("hj212_closed_not_reading") == 1, 10, "closed")
        sock.close()
