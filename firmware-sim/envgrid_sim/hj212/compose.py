"""A station's frames: uploads (2011/2051/2061) and heartbeats in its edition and CRC mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from envgrid_common.hj212 import CrcMode, Edition, format_time, heartbeat, upload_frames
from envgrid_common.hj212.frame import MAX_SEGMENT
from envgrid_sim.hj212.backlog import Upload
from envgrid_sim.hj212.readings import Factors

REALTIME = "2011"
MINUTE = "2051"
HOURLY = "2061"


@dataclass(frozen=True, slots=True)
class Identity:
    """How a station speaks: who it is (ST, MN, PW) and which dialect (edition, CRC, answers)."""

    st: str
    mn: str
    pw: str
    edition: Edition = Edition.HJ212_2017
    crc: CrcMode = CrcMode.STANDARD
    ack: bool = True
    max_segment: int = MAX_SEGMENT
    heartbeat_interval_s: int = 60


class QnStamps:
    """Request ids: the 17-digit millisecond time, bumped by a millisecond when taken twice."""

    def __init__(self) -> None:
        self._last = ""

    def take(self, now: datetime) -> str:
        """A QN not handed out before by this station."""
        qn = format_time(now, milliseconds=True)
        if qn <= self._last:
            qn = str(int(self._last) + 1)
        self._last = qn
        return qn


def upload(identity: Identity, cn: str, data_time: datetime, factors: Factors, qn: str) -> Upload:
    """An upload of ``factors`` for ``data_time`` (the window's start for 2051/2061).

    A 2005 station sends no QN unless it wants an answer (then its 9014 names the QN); it is
    split into PNUM/PNO packets when longer than ``identity.max_segment``.
    """
    modern = identity.edition is not Edition.HJT212_2005
    use_qn = qn if modern or identity.ack else None
    packets = upload_frames(
        st=identity.st,
        cn=cn,
        pw=identity.pw,
        mn=identity.mn,
        data_time=format_time(data_time),
        factors=factors,
        edition=identity.edition,
        qn=use_qn,
        ack=identity.ack,
        crc=identity.crc,
        max_segment=identity.max_segment,
    )
    return Upload(key=qn, cn=cn, packets=tuple(packets), wants_answer=identity.ack)


def liveness(identity: Identity, now: datetime) -> bytes:
    """The heartbeat: 9015 for a 2025 station, the local 8013 otherwise."""
    return heartbeat(
        mn=identity.mn,
        pw=identity.pw,
        st=identity.st,
        now=now,
        edition=identity.edition,
        interval_s=identity.heartbeat_interval_s,
        crc=identity.crc,
    )
