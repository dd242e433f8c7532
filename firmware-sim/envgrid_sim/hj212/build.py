"""One way to make a virtual 数采仪 for ``envgrid sim hj212`` and ``sim run``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from envgrid_common.hj212 import CrcMode, Edition
from envgrid_common.hj212.frame import MAX_SEGMENT
from envgrid_sim.hj212.backlog import Backlog
from envgrid_sim.hj212.compose import Identity
from envgrid_sim.hj212.factors import SYSTEM_CODES, SourceKind, factors_of
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.hj212.schedule import (
    MIN_INTERVALS_MIN,
    RTD_INTERVAL_MAX_S,
    RTD_INTERVAL_MIN_S,
    Cadence,
    Schedule,
    StationClock,
)
from envgrid_sim.hj212.station import LinkOptions, VirtualStation
from envgrid_sim.node import china_now


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class StationOptions:
    """Who a station is, how it speaks and how often; the defaults are ``envgrid sim hj212``'s."""

    mn: str
    password: str
    host: str
    port: int
    source: str = SourceKind.EFFLUENT.value
    edition: str = Edition.HJ212_2017.value
    crc: str = CrcMode.STANDARD.value
    ack: bool = True  # ask for 9014 answers (Flag's A bit)
    rtd_interval_s: float = 30.0
    min_interval_min: int = 10
    backfill_h: float = 0.0  # start its clock this far in the past
    speed: float = 60.0  # how much faster than real time the backfill is sent
    split_at: int = MAX_SEGMENT
    heartbeat_s: float = 60.0
    answer_timeout_s: float = 10.0
    retries: int = 3
    seed: int = 0


def build_station(options: StationOptions, *, start: datetime | None = None) -> VirtualStation:
    """The station ``options`` describe, its clock starting at ``start`` (default now) less the
    backfill; ValueError for options that do not fit (named as ``envgrid sim hj212``'s)."""
    if not RTD_INTERVAL_MIN_S <= options.rtd_interval_s <= RTD_INTERVAL_MAX_S:
        raise ValueError(
            f"--rtd-interval must be {RTD_INTERVAL_MIN_S:g}-{RTD_INTERVAL_MAX_S:g} seconds (表 4)"
        )
    if options.min_interval_min not in MIN_INTERVALS_MIN:
        raise ValueError(f"--min-interval must be one of {MIN_INTERVALS_MIN} minutes (表 4)")
    if options.split_at < 200:
        raise ValueError("--split-at below 200 bytes leaves no room for a factor")
    if options.backfill_h < 0 or options.speed <= 0:
        raise ValueError("--backfill must be 0 or more hours, --speed positive")
    kind = SourceKind(options.source)
    identity = Identity(
        st=SYSTEM_CODES[kind],
        mn=options.mn,
        pw=options.password,
        edition=Edition(options.edition),
        crc=CrcMode(options.crc),
        ack=options.ack,
        max_segment=options.split_at,
        heartbeat_interval_s=round(options.heartbeat_s),
    )
    begin = (start or china_now()) - timedelta(hours=options.backfill_h)
    clock = StationClock(begin, options.speed, cap=china_now)
    cadence = Cadence(
        realtime=timedelta(seconds=options.rtd_interval_s),
        minute=timedelta(minutes=options.min_interval_min),
    )
    values = StationValues(
        options.mn,
        factors_of(kind),
        seed=options.seed,
        sample_every=timedelta(seconds=options.rtd_interval_s),
    )
    link = LinkOptions(options.host, options.port, heartbeat_s=options.heartbeat_s)
    backlog = Backlog(answer_timeout_s=options.answer_timeout_s, retries=options.retries)
    return VirtualStation(identity, values, Schedule(cadence, clock.now()), clock, link, backlog)
