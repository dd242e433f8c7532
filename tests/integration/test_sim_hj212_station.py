"""The virtual 数采仪 over TCP against a tiny platform: editions, CRC modes, split packets,
answers, resends, the backlog after an outage, heartbeats and host requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from envgrid_cli.main import main
from envgrid_common.hj212 import CrcMode, Edition, SplitReassembler, build_frame, parse_time
from envgrid_sim.hj212.backlog import Backlog
from envgrid_sim.hj212.compose import Identity
from envgrid_sim.hj212.factors import SourceKind, factors_of
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.hj212.schedule import Cadence, Schedule, StationClock
from envgrid_sim.hj212.station import LinkOptions, VirtualStation
from envgrid_sim.node import china_now
from tests.integration.hj212_server import PlatformThread, TinyPlatform

MN = "010000A8900016F000169DC0"
# 30 s real-time data at 600× speed: one upload every 50 ms, a minute window every second.
SPEED = 600.0
CADENCE = Cadence(timedelta(seconds=30), timedelta(minutes=10), timedelta(hours=1))


@pytest_asyncio.fixture
async def platform() -> AsyncIterator[TinyPlatform]:
    """A tiny platform listening on a free port."""
    server = TinyPlatform()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _station(
    port: int,
    *,
    edition: Edition = Edition.HJ212_2017,
    crc: CrcMode = CrcMode.STANDARD,
    kind: SourceKind = SourceKind.EFFLUENT,
    max_segment: int = 1024,
    answer_timeout_s: float = 10.0,
    heartbeat_s: float = 60.0,
    speed: float = SPEED,
    cadence: Cadence = CADENCE,
) -> VirtualStation:
    identity = Identity(
        st="31" if kind is SourceKind.FLUE_GAS else "32",
        mn=MN,
        pw="123456",
        edition=edition,
        crc=crc,
        max_segment=max_segment,
    )
    clock = StationClock(china_now(), speed)
    values = StationValues(MN, factors_of(kind), seed=3)
    link = LinkOptions(
        "127.0.0.1", port, backoff_first_s=0.05, backoff_most_s=0.2, heartbeat_s=heartbeat_s
    )
    backlog = Backlog(answer_timeout_s=answer_timeout_s, retries=1, retry_later_s=answer_timeout_s)
    return VirtualStation(identity, values, Schedule(cadence, clock.now()), clock, link, backlog)


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _running(station: VirtualStation, body: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(station.run(stop))
    try:
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.mark.asyncio
@pytest.mark.parametrize("edition", list(Edition))
@pytest.mark.parametrize("crc", list(CrcMode))
async def test_each_edition_and_crc_mode_is_received_and_answered(
    platform: TinyPlatform, edition: Edition, crc: CrcMode
) -> None:
    station = _station(platform.port, edition=edition, crc=crc)

    async def body() -> None:
        await _until(lambda: station.counters.answered >= 3, "three answered uploads")

    await _running(station, body)
    assert platform.frames
    assert {f.edition for f in platform.frames} == {edition}
    assert {f.crc_mode for f in platform.frames} == {crc}
    assert {f.mn for f in platform.frames} == {MN}
    assert platform.errors == []
    first = platform.frames[0]
    assert first.cn == "2011"
    codes = set(first.factors)
    assert codes == (
        {"w00000", "w01001", "w01018", "w21003"}
        if edition is not Edition.HJT212_2005
        else {"B01", "001", "011", "060"}
    )
    assert station.counters.resent == 0


@pytest.mark.asyncio
async def test_minute_and_hourly_data_carry_their_window_start(platform: TinyPlatform) -> None:
    # 3600× speed: a 10-minute window every 1/6 s, an hour every second.
    station = _station(platform.port, kind=SourceKind.FLUE_GAS, speed=3600.0)

    async def body() -> None:
        await _until(lambda: "2061" in platform.cns(), "an hourly upload", 15.0)

    await _running(station, body)
    minute = [f for f in platform.frames if f.cn == "2051"]
    hourly = [f for f in platform.frames if f.cn == "2061"]
    assert minute
    for frame in minute:
        start = parse_time(frame.data_time or "")
        assert start.minute % 10 == 0
        assert start.second == 0
        assert {"Min", "Avg", "Max", "Flag"} <= set(frame.factors["a21026"])
    assert parse_time(hourly[0].data_time or "").minute == 0
    assert "Cou" in hourly[0].factors["a00000"]


@pytest.mark.asyncio
async def test_split_uploads_arrive_as_packets_that_join(platform: TinyPlatform) -> None:
    station = _station(platform.port, kind=SourceKind.FLUE_GAS, max_segment=200)

    async def body() -> None:
        await _until(lambda: station.counters.answered >= 2, "two answered uploads")

    await _running(station, body)
    joiner = SplitReassembler()
    joined = []
    for frame in platform.frames:
        if frame.cn == "2011":
            assert frame.pnum is not None
            assert frame.pnum > 1
            joined += joiner.add(frame, 0.0)[0]
    assert joined
    assert set(joined[0].factors) == {"a00000", "a19001", "a21026", "a21002", "a34013"}


@pytest.mark.asyncio
async def test_unanswered_uploads_are_sent_again_with_the_same_qn(platform: TinyPlatform) -> None:
    platform.answering = False
    station = _station(
        platform.port,
        answer_timeout_s=0.2,
        cadence=Cadence(timedelta(hours=1), timedelta(hours=1), timedelta(hours=1)),
    )
    station.clock = StationClock(china_now(), 3600.0 * 2)

    async def body() -> None:
        await _until(lambda: station.counters.resent >= 2, "resends")

    await _running(station, body)
    qns = [f.qn for f in platform.frames if f.cn == "2011"]
    assert len(qns) > len(set(qns))  # the same upload, sent again
    assert len(station.backlog) >= 1  # still kept: nothing answered it


@pytest.mark.asyncio
async def test_a_backlog_made_during_an_outage_arrives_late_oldest_first() -> None:
    platform = TinyPlatform()
    await platform.start()
    port = platform.port
    await platform.stop()  # the platform is away when the station starts
    station = _station(port)
    stop = asyncio.Event()
    task = asyncio.create_task(station.run(stop))
    try:
        await _until(lambda: station.counters.uploads >= 10, "uploads made offline")
        assert station.counters.packets_sent == 0
        held = len(station.backlog)
        await platform.start(port)
        await _until(lambda: len(platform.frames) >= held, "the backlog delivered")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await platform.stop()
    realtime = [parse_time(f.data_time or "") for f in platform.frames if f.cn == "2011"]
    assert realtime[: held - 2] == sorted(realtime[: held - 2])
    assert station.counters.connects >= 1
    assert station.counters.answered >= held - 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("edition", "cn"), [(Edition.HJ212_2025, "9015"), (Edition.HJ212_2017, "8013")]
)
async def test_an_idle_station_sends_heartbeats(
    platform: TinyPlatform, edition: Edition, cn: str
) -> None:
    quiet = Cadence(timedelta(hours=1), timedelta(hours=1), timedelta(hours=1))
    station = _station(platform.port, edition=edition, heartbeat_s=0.1, speed=1.0, cadence=quiet)

    async def body() -> None:
        await _until(lambda: station.counters.heartbeats >= 2, "two heartbeats")

    await _running(station, body)
    assert platform.cns()[:2] == [cn, cn]


@pytest.mark.asyncio
async def test_host_requests_get_9011_then_9012(platform: TinyPlatform) -> None:
    quiet = Cadence(timedelta(hours=1), timedelta(hours=1), timedelta(hours=1))
    station = _station(platform.port, speed=1.0, cadence=quiet)

    async def body() -> None:
        await _until(lambda: station.counters.connected, "the connection")
        await _until(lambda: platform.connections == 1, "the platform's side")
        platform.send(
            build_frame(
                st="32",
                cn="1062",
                pw="123456",
                mn=MN,
                qn="20260301120000000",
                flag=5,
                cp="RtdInterval=30",
            )
        )
        await _until(lambda: len(platform.frames) >= 2, "the answers")

    await _running(station, body)
    assert platform.cns()[:2] == ["9011", "9012"]
    assert {f.qn for f in platform.frames[:2]} == {"20260301120000000"}
    assert platform.frames[0].cp.fields["QnRtn"] == "1"
    assert platform.frames[1].cp.fields["ExeRtn"] == "1"


def test_the_command_sends_its_backfill_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    with PlatformThread() as platform:
        argv = ["sim", "hj212", "--to", f"127.0.0.1:{platform.port}", "--mn", MN]
        argv += ["--password", "123456", "--edition", "2025", "--crc", "modbus-be"]
        argv += ["--backfill", "0.1", "--speed", "600", "--duration", "3"]
        assert main(argv) == 0
        frames = list(platform.frames)
    out = capsys.readouterr().out
    assert f"hj212 {MN}: ST=32 edition 2025 crc modbus-be" in out
    # Six minutes of history at 600× go out within the run: about 12 real-time uploads.
    realtime = [f for f in frames if f.cn == "2011"]
    assert len(realtime) >= 10
    assert {(f.edition, f.crc_mode) for f in frames} == {(Edition.HJ212_2025, CrcMode.MODBUS_BE)}
    assert "answered" in out.splitlines()[-1]
