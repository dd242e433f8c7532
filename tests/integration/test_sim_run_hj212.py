"""HJ 212 stations run from a scenario file: ``envgrid sim run FILE --hj212 HOST:PORT`` against
the gateway's real listener (readings collected on the machine's Mosquitto), a spike on cue;
a station gone dark drops its link and sends what it measured meanwhile when back."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from envgrid_common.hj212 import parse_time
from envgrid_common.messages import Reading
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from envgrid_sim.hj212.build import StationOptions, build_station
from envgrid_sim.hj212.factors import SourceKind, factors_of
from envgrid_sim.hj212.readings import StationValues
from tests.e2e.support import clean_env, start, stop, wait_for
from tests.integration.hj212_server import TinyPlatform
from tests.integration.hj212_support import hj212_address
from tests.integration.test_gateway_support import gateway_settings
from tests.mqtt_clients import Collector

pytestmark = pytest.mark.timeout(90)

MN, PW, NODE = "36012300A89000160000B202", "580117", "plant-effluent"
FACTOR = 4.0
# The spike covers [start, start + 30 s): the first real-time slot after the start (RtdInterval
# 30 s, slots on the half minute) falls inside it, the next one 30 s later outside.
FILE = f"""\
format: envgrid-scenario/1
name: plant
title: 试验镇
cells:
- {{id: cc, level: county, name: 试验县}}
- {{id: ct, level: township, name: 试验镇, parent: cc}}
sites:
- id: plant
  name: 试验化工厂
  category: industrial
  cell: ct
  nodes:
  - {{kind: hj212_station, mn: {MN}, password: '{PW}', report_interval_s: 30}}
timeline:
- {{kind: spike, node: {NODE}, metric: cod, factor: {FACTOR}, at_s: 0, for_s: 30, ramp_s: 0}}
"""
REALTIME_KIND = 1  # a 2011 upload's place in the seq the gateway gives its reading


@pytest.fixture
def settings(mqtt_url: str, topic_root: str, tmp_path: Path) -> GatewaySettings:
    table = tmp_path / "devices.yaml"
    table.write_text(
        f'devices:\n  - {{mn: "{MN}", node: {NODE}, password: "{PW}"}}\n', encoding="utf-8"
    )
    return gateway_settings(
        mqtt_url,
        topic_root,
        hj212_listen="127.0.0.1:0",
        hj212_devices=table,
        gateway_buffer_path=tmp_path / "gateway.sqlite",
    )


def _realtime(collector: Collector, settings: GatewaySettings) -> list[Reading]:
    topic = settings.uplink_topics.readings(NODE)
    readings = [Reading.model_validate_json(m.payload) for m in collector.on(topic)]
    return sorted((r for r in readings if r.seq % 8 == REALTIME_KIND), key=lambda r: r.ts)


def test_sim_run_runs_the_files_station_against_the_gateway_with_its_spike(
    settings: GatewaySettings,
    collector: Collector,
    gateway: Gateway,
    mqtt_url: str,
    topic_root: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(FILE, encoding="utf-8")
    host, port = hj212_address(gateway)
    log = tmp_path / "sim.log"
    env = clean_env(
        ENVGRID_MQTT_URL=mqtt_url,
        ENVGRID_TOPIC_ROOT=topic_root,
        ENVGRID_SIM_PROGRESS_INTERVAL_S="20",
        ENVGRID_LOG_LEVEL="INFO",
    )
    args = ["sim", "run", str(path), "--hj212", f"{host}:{port}", "--data-dir", str(tmp_path)]
    process = start(args, env, log)
    try:
        wait_for(
            "two real-time readings upstream",
            lambda: len(_realtime(collector, settings)) >= 2,
            75,
            (log,),
        )
    finally:
        code = stop(process, signal.SIGINT, timeout=15)
    assert code == 0, log.read_text()
    output = log.read_text()
    assert f"{NODE}" in output
    assert f"stopped: hj212 {MN}: " in output  # the summary line, after a clean stop

    first, second = _realtime(collector, settings)[:2]
    assert second.ts - first.ts == timedelta(seconds=30)
    # What the station measures without the spike, for the same seed (0) and MN.
    normal = StationValues(MN, factors_of(SourceKind.EFFLUENT))

    def expected(reading: Reading, code: str) -> float:
        return float(normal.realtime(reading.ts, modern=True)[code]["Rtd"])

    # During the event: COD ×4 (each value rounded as sent); the other factors as usual.
    assert first.values["cod"] == pytest.approx(FACTOR * expected(first, "w01018"), abs=0.3)
    assert first.values["cod"] > 3 * expected(first, "w01018")
    assert first.values["nh3n"] == expected(first, "w21003")
    assert first.values["ph"] == expected(first, "w01001")
    # After it: COD as usual.
    assert second.values["cod"] == expected(second, "w01018")
    assert not first.historical
    assert not collector.dead_letters(settings.gateway_id)


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_station_gone_dark_drops_its_link_and_sends_its_backlog_when_back() -> None:
    async def scenario() -> None:
        platform = TinyPlatform()
        await platform.start()
        # An hour of backfill at 300×: 30 s real-time data every 0.1 s for the first 12 s.
        options = StationOptions(
            MN, PW, "127.0.0.1", platform.port, backfill_h=1.0, speed=300.0, heartbeat_s=600
        )
        station = build_station(options)
        stop = asyncio.Event()
        task = asyncio.create_task(station.run(stop))
        try:
            await _until(lambda: platform.cns().count("2011") >= 3, "uploads before the outage")
            station.go_dark(1.5)
            await _until(lambda: not station.counters.connected, "the link to drop", 2)
            before = len(platform.frames)
            await asyncio.sleep(1.0)  # still dark: nothing is sent, nothing reconnects
            assert platform.connections == 1
            assert len(platform.frames) == before
            assert len(station.backlog) >= 5  # measuring goes on
            held = {u.key for u in station.backlog.due(float("inf"))}
            await _until(lambda: platform.connections == 2, "the link back", 5)
            await _until(lambda: not station.backlog, "the backlog sent and answered", 10)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await platform.stop()
        after = platform.frames[before:]
        assert {f.qn for f in after} >= held  # what it measured in the dark went up, late
        times = [parse_time(f.data_time) for f in after if f.cn == "2011" and f.data_time]
        assert times == sorted(times)  # oldest first
        assert station.counters.outages == 1

    asyncio.run(scenario())
