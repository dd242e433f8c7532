"""Many HJ 212 units at once through the real gateway: every one is answered, none waits long.

A data-acquisition unit sends its next frame only once the last one is answered (9014). A
gateway that stalls, or holds connections in the kernel's queue, leaves such a unit silent
for as long, and nothing else looks wrong. The bound here is a liveness bound, far above
what a healthy gateway needs on a loaded machine, and below a stall that matters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    FrameError,
    StreamFramer,
    format_time,
    parse_frame,
    upload_frames,
)
from envgrid_common.messages import Reading
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from tests.integration.hj212_support import hj212_address, running_gateway
from tests.integration.test_gateway_support import gateway_settings
from tests.mqtt_clients import Collector
from tests.polling import wait_until

UNITS = 300
FRAMES = 4  # per unit, each sent once the one before is answered
ANSWER_BOUND_S = 8.0  # from starting to connect (or from the frame) to its 9014
PW = "123456"


def mn(unit: int) -> str:
    return f"010000A89001{unit:012X}"


def frames_of(unit: int) -> list[bytes]:
    """The unit's real-time uploads, a second apart, each asking for its answer."""
    start = utc_now().replace(microsecond=0)
    out = []
    for n in range(FRAMES):
        at = start.replace(second=n)
        (frame,) = upload_frames(
            st="32",
            cn="2011",
            pw=PW,
            mn=mn(unit),
            data_time=format_time(at),
            factors={"w01018": {"Rtd": f"{10 + n}.5", "Flag": "N"}},
            edition=Edition.HJ212_2017,
            qn=format_time(at, milliseconds=True),
            ack=True,
            crc=CrcMode.STANDARD,
        )
        out.append(frame)
    return out


@pytest.fixture
def settings(mqtt_url: str, topic_root: str, tmp_path: Path) -> GatewaySettings:
    table = tmp_path / "devices.yaml"
    devices = [{"mn": mn(u), "node": f"unit-{u:03d}", "password": PW} for u in range(UNITS)]
    table.write_text(yaml.safe_dump({"devices": devices}), encoding="utf-8")
    return gateway_settings(
        mqtt_url,
        topic_root,
        hj212_listen="127.0.0.1:0",
        hj212_devices=table,
        hj212_max_per_address=UNITS + 10,
        hj212_max_connections=UNITS + 10,
    )


@pytest.fixture
def collector(settings: GatewaySettings) -> Iterator[Collector]:
    collector = Collector(
        settings.uplink_url, settings.uplink_topics, filters=[settings.uplink_topics.all_nodes()]
    ).start()
    yield collector
    collector.stop()


@pytest.fixture
def gateway(settings: GatewaySettings, collector: Collector) -> Iterator[Gateway]:
    del collector  # subscribed before the gateway publishes anything
    with running_gateway(settings, drain_timeout_s=5) as gateway:
        yield gateway


async def unit(address: tuple[str, int], frames: list[bytes]) -> list[float]:
    """One stop-and-wait unit: how long each frame waited for its 9014 (the first: connect too)."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 60)
    framer = StreamFramer()
    waits = []
    try:
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            qn = parse_frame(frame).qn
            answer = None
            while answer is None:
                data = await asyncio.wait_for(reader.read(4096), 60)
                assert data, "the gateway closed the connection"
                for item in framer.feed(data):
                    if not isinstance(item, FrameError) and parse_frame(item).qn == qn:
                        answer = item
            waits.append(time.monotonic() - started)
            started = time.monotonic()
    finally:
        writer.close()
    return waits


async def all_units(address: tuple[str, int]) -> list[list[float]]:
    return await asyncio.gather(*(unit(address, frames_of(u)) for u in range(UNITS)))


def test_hundreds_of_stop_and_wait_units_connecting_together_are_each_answered_promptly(
    settings: GatewaySettings, collector: Collector, gateway: Gateway
) -> None:
    waits = asyncio.run(all_units(hj212_address(gateway)))
    assert len(waits) == UNITS
    assert all(len(w) == FRAMES for w in waits)
    slow = sorted((w, u) for u, unit_waits in enumerate(waits) for w in unit_waits)[-3:]
    assert slow[-1][0] < ANSWER_BOUND_S, f"units waited this long (s, unit) for a 9014: {slow}"
    assert gateway.stats["hj212_stalls"] == 0

    def upstream() -> int:
        topic = settings.uplink_topics
        return sum(len(collector.on(topic.readings(f"unit-{u:03d}"))) for u in range(0, UNITS, 30))

    wait_until(lambda: upstream() == FRAMES * UNITS // 30, 30, "the readings upstream")
    sample = collector.on(settings.uplink_topics.readings("unit-000"))
    assert sorted(Reading.model_validate_json(m.payload).values["cod"] for m in sample) == [
        10.5 + n for n in range(FRAMES)
    ]
