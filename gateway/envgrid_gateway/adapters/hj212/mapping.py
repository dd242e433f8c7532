"""An HJ 212 data upload (2011, 2051, 2061, 2031) as an envgrid reading: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from envgrid_common.hj212 import Frame, parse_time, to_metric
from envgrid_common.messages import MAX_SEQ, DataFlag, Reading
from envgrid_common.validation import Rejected, check_time

# Each upload kind's place in a reading's seq, and the field that carries its value.
_KIND = {"2011": 1, "2051": 2, "2061": 3, "2031": 4}
_FIELD = {"2011": "Rtd", "2051": "Avg", "2061": "Avg", "2031": "Avg"}
# How long after DataTime (the window's start) a window ends. Minute data's window is the
# device's MinInterval (1-30 min), unknown here: its longest is taken, so none is early.
_WINDOW = {
    "2011": timedelta(0),
    "2051": timedelta(minutes=30),
    "2061": timedelta(hours=1),
    "2031": timedelta(days=1),
}
READING_COMMANDS = frozenset(_KIND)
"""Uploads that become readings."""
_FLAGS = frozenset(flag.value for flag in DataFlag)


@dataclass(frozen=True, slots=True)
class Mapped:
    """What an upload became: a reading, or why not; codes without a metric are listed."""

    reading: Reading | None
    unmapped: tuple[str, ...] = ()
    refused: str | None = None  # "<reason code>: <what was seen>" when there is no reading


def reading_seq(ts: datetime, cn: str) -> int:
    """A node's seq for its upload ``cn`` at ``ts``: counts up with time; same upload, same seq.

    Milliseconds since the epoch × 8 + the kind: a frame sent twice gets the same seq, and
    the real-time and minute values of one instant (same ``ts``) get different ones.
    """
    milliseconds = round(ts.timestamp() * 1000)
    return min(MAX_SEQ, max(0, milliseconds * 8 + _KIND[cn]))


def map_upload(
    frame: Frame,
    *,
    units: dict[str, str],
    now: datetime,
    historical_after_s: float,
) -> Mapped:
    """The reading a data upload carries (values by metric, each ``-Flag``, historical if late)."""
    if frame.cn not in _KIND:
        raise ValueError(f"CN {frame.cn} is not a data upload with readings")
    stamp = frame.data_time
    if stamp is None:
        return Mapped(None, refused="no_data_time: the upload has no DataTime")
    ts = parse_time(stamp)  # the parser already checked it
    try:
        check_time(ts, now)
    except Rejected as rejected:
        return Mapped(None, refused=f"bad_data_time: DataTime={stamp}: {rejected.reason}")
    wanted = _FIELD[frame.cn]
    values: dict[str, float] = {}
    flags: dict[str, DataFlag] = {}
    unmapped: list[str] = []
    for code, fields in frame.factors.items():
        text = fields.get(wanted, fields.get("Rtd") if wanted == "Avg" else None)
        if text is None:
            continue  # e.g. only -Cou or -ZsAvg: nothing of this kind to read
        mapped = to_metric(code, float(text), st=frame.st, overrides=units)
        if mapped is None:
            unmapped.append(code)
            continue
        metric, value = mapped
        flag = fields.get("Flag")
        if metric in values:
            continue  # the same pollutant under both editions' codes: the first one counts
        if flag is not None and flag not in _FLAGS:
            # A letter the standard does not define: the value cannot be trusted as valid.
            unmapped.append(f"{code}-Flag={flag}")
            continue
        values[metric] = value
        if flag is not None:
            flags[metric] = DataFlag(flag)
    if not values:
        listed = ", ".join(unmapped) or "none with a value"
        return Mapped(None, tuple(unmapped), f"no_metric: no factor with a metric ({listed})")
    late = now - (ts + _WINDOW[frame.cn])
    reading = Reading(
        seq=reading_seq(ts, frame.cn),
        ts=ts,
        values=values,
        flags=flags or None,
        historical=late.total_seconds() > historical_after_s,
    )
    return Mapped(reading, tuple(unmapped))
