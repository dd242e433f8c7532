"""The virtual 数采仪 against the gateway's real HJ 212 listener (on the machine's Mosquitto):
its backlog of an hour becomes historical readings upstream, each answered once stored, in
every edition and CRC mode, split or not; a flue-gas stack's factors map to the stack metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from envgrid_common.hj212 import CrcMode, Edition
from envgrid_common.messages import Reading
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from envgrid_sim.hj212.backlog import Backlog
from envgrid_sim.hj212.compose import Identity
from envgrid_sim.hj212.factors import SYSTEM_CODES, SourceKind, factors_of
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.hj212.schedule import Cadence, Schedule, StationClock
from envgrid_sim.hj212.station import LinkOptions, VirtualStation
from envgrid_sim.node import china_now
from tests.integration.hj212_support import hj212_address
from tests.integration.test_gateway_support import gateway_settings
from tests.mqtt_clients import Collector
from tests.polling import wait_until

MN, NODE, PW = "36012300A89000160000A101", "luxi-industry-01-effluent", "580117"


@pytest.fixture
def settings(mqtt_url: str, topic_root: str, tmp_path: Path) -> GatewaySettings:
    table = tmp_path / "devices.yaml"
    table.write_text(
        f'devices:\n  - {{mn: "{MN}", node: {NODE}, password: "{PW}"}}\n', encoding="utf-8"
    )
    return gateway_settings(mqtt_url, topic_root, hj212_listen="127.0.0.1:0", hj212_devices=table)


def _run(
    gateway: Gateway,
    *,
    edition: Edition,
    crc: CrcMode,
    kind: SourceKind = SourceKind.EFFLUENT,
    max_segment: int = 1024,
    answers: int = 3,
) -> VirtualStation:
    host, port = hj212_address(gateway)
    identity = Identity(
        st=SYSTEM_CODES[kind], mn=MN, pw=PW, edition=edition, crc=crc, max_segment=max_segment
    )
    # An hour's backlog at 600× (real-time data every 50 ms), never ahead of the present.
    clock = StationClock(china_now() - timedelta(hours=1), 600.0, cap=china_now)
    station = VirtualStation(
        identity,
        StationValues(MN, factors_of(kind), seed=5),
        Schedule(Cadence(timedelta(seconds=30)), clock.now()),
        clock,
        LinkOptions(host, port, backoff_first_s=0.05, backoff_most_s=0.2),
        Backlog(answer_timeout_s=5.0),
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(station.run(stop))
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while station.counters.answered < answers:
                assert asyncio.get_running_loop().time() < deadline, station.counters
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())
    return station


def _readings(collector: Collector, settings: GatewaySettings) -> list[Reading]:
    topic = settings.uplink_topics.readings(NODE)
    return [Reading.model_validate_json(m.payload) for m in collector.on(topic)]


@pytest.mark.parametrize(
    ("edition", "crc"),
    [
        (Edition.HJT212_2005, CrcMode.STANDARD),
        (Edition.HJ212_2017, CrcMode.MODBUS_BE),
        (Edition.HJ212_2025, CrcMode.MODBUS_LE),
    ],
)
def test_station_uploads_become_readings_answered_once_stored(
    settings: GatewaySettings,
    collector: Collector,
    gateway: Gateway,
    edition: Edition,
    crc: CrcMode,
) -> None:
    station = _run(gateway, edition=edition, crc=crc)
    wait_until(
        lambda: len(_readings(collector, settings)) >= station.counters.answered,
        10,
        "a reading upstream for every answered upload",
    )
    got = _readings(collector, settings)
    assert {"cod", "nh3n", "ph", "flow"} <= set(got[0].values)
    assert got[0].historical  # an hour late: the backlog after an outage
    assert all(flag == "N" for flag in (got[0].flags or {}).values())
    assert station.counters.resent == 0
    assert not collector.dead_letters(settings.gateway_id)


def test_split_flue_gas_uploads_are_joined_into_stack_readings(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    station = _run(
        gateway,
        edition=Edition.HJ212_2017,
        crc=CrcMode.STANDARD,
        kind=SourceKind.FLUE_GAS,
        max_segment=200,
        answers=2,
    )
    assert station.counters.packets_sent > station.counters.uploads  # split into packets
    wait_until(lambda: bool(_readings(collector, settings)), 10, "a stack reading upstream")
    first = _readings(collector, settings)[0]
    assert {"so2", "nox", "dust", "o2", "flue_flow"} <= set(first.values)
    # SO2 is sent in mg/m³ at a stack and kept in µg/m³.
    assert first.values["so2"] > 1000
