"""Frames to send: answers (9011, 9012, 9013, 9014), heartbeats and the virtual 数采仪's uploads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum

from envgrid_common.hj212.cp import format_cp
from envgrid_common.hj212.crc import CrcMode, crc_text
from envgrid_common.hj212.edition import Edition, make_flag
from envgrid_common.hj212.frame import MAX_SEGMENT, Frame
from envgrid_common.hj212.times import format_time

ST_INTERACTION = "91"  # 表 5: system interaction, used by 9011/9012/9013/9014
DATA_UPLOADS = frozenset(("2011", "2021", "2031", "2041", "2051", "2061", "2081"))
"""Uploads a host answers with 9014 when their Flag asks for it."""
NOTIFICATIONS = frozenset(("1013",))
"""Notifications a host answers with 9013 when their Flag asks for it."""


class QnRtn(IntEnum):
    """请求应答 codes (表 7)."""

    READY = 1
    REJECTED = 2
    PW_ERROR = 3
    MN_ERROR = 4
    ST_ERROR = 5
    FLAG_ERROR = 6
    QN_ERROR = 7
    CN_ERROR = 8
    CRC_ERROR = 9
    UNKNOWN = 100


class ExeRtn(IntEnum):
    """执行结果 codes (表 6)."""

    SUCCESS = 1
    FAILURE = 2
    CONDITION_ERROR = 3
    TIMEOUT = 4
    BUSY = 5
    FAULT = 6
    NO_DATA = 100


def build_frame(
    *,
    st: str,
    cn: str,
    pw: str,
    mn: str,
    cp: str = "",
    qn: str | None = None,
    flag: int | None = None,
    pnum: int | None = None,
    pno: int | None = None,
    crc: CrcMode = CrcMode.STANDARD,
    crlf: bool = True,
) -> bytes:
    """One packet: ``##`` + length + data segment + CRC (+ CRLF); fields in the standard's order."""
    head = [] if qn is None else [f"QN={qn}"]
    head += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}"]
    if flag is not None:
        head.append(f"Flag={flag}")
    if pnum is not None and pno is not None:
        head += [f"PNUM={pnum}", f"PNO={pno}"]
    segment = (";".join(head) + f";CP=&&{cp}&&").encode("utf-8")
    if len(segment) > 9999:
        raise ValueError(f"data segment of {len(segment)} bytes cannot be framed")
    frame = b"##%04d%s%s" % (len(segment), segment, crc_text(crc, segment))
    return frame + b"\r\n" if crlf else frame


def data_answer(frame: Frame, *, crc: CrcMode = CrcMode.STANDARD) -> bytes:
    """9014 for an upload: same QN (2017/2025 in the header; 2005 in CP, with the CN)."""
    return _answer(frame, "9014", "", crc)


def notify_answer(frame: Frame, *, crc: CrcMode = CrcMode.STANDARD) -> bytes:
    """9013 for a notification, same QN."""
    return _answer(frame, "9013", "", crc)


def request_answer(
    frame: Frame, rtn: QnRtn = QnRtn.READY, *, crc: CrcMode = CrcMode.STANDARD
) -> bytes:
    """9011 from the field machine to a host request: will it execute (QnRtn)."""
    return _answer(frame, "9011", f"QnRtn={int(rtn)}", crc)


def execution_result(
    frame: Frame, rtn: ExeRtn = ExeRtn.SUCCESS, *, crc: CrcMode = CrcMode.STANDARD
) -> bytes:
    """9012 from the field machine once a host request ran: how it went (ExeRtn)."""
    return _answer(frame, "9012", f"ExeRtn={int(rtn)}", crc)


def required_answer(frame: Frame, *, crc: CrcMode = CrcMode.STANDARD) -> bytes | None:
    """What a host must send back for a frame it received, or None (A bit clear, or none due)."""
    if not frame.ack_requested:
        return None
    if frame.cn in DATA_UPLOADS:
        return data_answer(frame, crc=crc)
    if frame.cn in NOTIFICATIONS:
        return notify_answer(frame, crc=crc)
    return None


def _answer(frame: Frame, cn: str, body: str, crc: CrcMode) -> bytes:
    edition = frame.edition
    qn = frame.qn
    if edition is Edition.HJT212_2005:
        # 2005-era answers carry the request's QN in CP (as the 9011/9012 in the field do).
        items = ([f"QN={qn}"] if qn else []) + (
            [f"CN={frame.cn}"] if cn in ("9013", "9014") else []
        )
        cp = ";".join(items + ([body] if body else []))
        flag = None if frame.flag is None else make_flag(edition)
        return build_frame(
            st=ST_INTERACTION, cn=cn, pw=frame.pw, mn=frame.mn, cp=cp, flag=flag, crc=crc
        )
    return build_frame(
        st=ST_INTERACTION,
        cn=cn,
        pw=frame.pw,
        mn=frame.mn,
        cp=body,
        qn=qn,
        flag=make_flag(edition),
        crc=crc,
    )


def heartbeat(
    *,
    mn: str,
    pw: str,
    st: str,
    now: datetime,
    edition: Edition = Edition.HJ212_2025,
    interval_s: int = 120,
    crc: CrcMode = CrcMode.STANDARD,
) -> bytes:
    """A liveness frame: 2025's 9015 (QN, no data), or the local 8013 (``HeartbeatTime``)."""
    if edition is Edition.HJ212_2025:
        return build_frame(
            st=st,
            cn="9015",
            pw=pw,
            mn=mn,
            qn=format_time(now, milliseconds=True),
            flag=make_flag(edition),
            crc=crc,
        )
    flag = make_flag(edition)
    return build_frame(
        st=st, cn="8013", pw=pw, mn=mn, cp=f"HeartbeatTime={interval_s}", flag=flag, crc=crc
    )


def upload_frames(
    *,
    st: str,
    cn: str,
    pw: str,
    mn: str,
    data_time: str,
    factors: Mapping[str, Mapping[str, str]],
    edition: Edition,
    qn: str | None = None,
    ack: bool = False,
    crc: CrcMode = CrcMode.STANDARD,
    max_segment: int = MAX_SEGMENT,
) -> list[bytes]:
    """A data upload, split into PNUM/PNO packets when it exceeds ``max_segment``.

    2005 frames carry no QN or Flag unless given (as 2005-era devices send them); each
    packet repeats ``DataTime`` and holds whole factors.
    """
    flag = make_flag(edition, ack=ack) if edition is not Edition.HJT212_2005 or ack else None
    items = {code: dict(values) for code, values in factors.items()}
    whole = format_cp({"DataTime": data_time}, items)
    one = build_frame(st=st, cn=cn, pw=pw, mn=mn, cp=whole, qn=qn, flag=flag, crc=crc)
    if len(one) - 12 <= max_segment:
        return [one]
    # Room for the split header (PNUM=nnnn;PNO=nnnn; and a Flag with the D bit) in each packet.
    budget = max_segment - (len(one) - 12 - len(whole)) - 40
    chunks: list[dict[str, dict[str, str]]] = [{}]
    for code, values in items.items():
        trial = {**chunks[-1], code: values}
        if chunks[-1] and len(format_cp({"DataTime": data_time}, trial)) > budget:
            chunks.append({code: values})
        else:
            chunks[-1] = trial
    split_flag = make_flag(edition, ack=ack, split=True)
    return [
        build_frame(
            st=st,
            cn=cn,
            pw=pw,
            mn=mn,
            cp=format_cp({"DataTime": data_time}, chunk),
            qn=qn,
            flag=split_flag,
            pnum=len(chunks),
            pno=number,
            crc=crc,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]
