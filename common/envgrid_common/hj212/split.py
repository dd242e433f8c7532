"""Split packets (PNUM/PNO) joined into one frame, with a timeout: a pure class fed frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from envgrid_common.hj212.cp import CpData
from envgrid_common.hj212.errors import FrameError, Reason
from envgrid_common.hj212.frame import Frame

_Key = tuple[str, str, str | None]


@dataclass
class _Pending:
    pnum: int
    first_seen: float
    parts: dict[int, Frame] = field(default_factory=dict)


class SplitReassembler:
    """Joins the packets of one split upload (same MN, CN and QN) once all have come.

    ``add`` takes every parsed frame with the time it arrived (any monotonic clock, in
    seconds) and returns the frames ready for use: an unsplit frame at once, a split one
    when its last packet arrives, joined in PNO order. ``expire`` gives up on uploads
    older than ``timeout_s``; at most ``max_pending`` uploads and ``max_packets`` packets
    each are held, so a device cannot grow it without bound.
    """

    def __init__(
        self, *, timeout_s: float = 30.0, max_pending: int = 64, max_packets: int = 64
    ) -> None:
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.max_packets = max_packets
        self._pending: dict[_Key, _Pending] = {}

    @property
    def pending(self) -> int:
        """Split uploads waiting for packets."""
        return len(self._pending)

    def add(self, frame: Frame, now: float) -> tuple[list[Frame], list[FrameError]]:
        """Frames complete after this one arrived, and uploads refused or given up on."""
        errors = self.expire(now)
        if frame.pnum is None or frame.pno is None:
            return [frame], errors
        if frame.pnum == 1:
            return [_joined([frame])], errors
        if frame.pnum > self.max_packets:
            errors.append(
                FrameError(Reason.BAD_SPLIT, f"PNUM={frame.pnum} over {self.max_packets}")
            )
            return [], errors
        key = (frame.mn, frame.cn, frame.qn)
        pending = self._pending.get(key)
        if pending is not None and pending.pnum != frame.pnum:
            errors.append(
                FrameError(
                    Reason.BAD_SPLIT,
                    f"MN {frame.mn} QN {frame.qn}: PNUM {frame.pnum} after {pending.pnum}; "
                    "the earlier packets are dropped",
                )
            )
            del self._pending[key]
            pending = None
        if pending is None:
            if len(self._pending) >= self.max_pending:
                oldest = min(self._pending, key=lambda k: self._pending[k].first_seen)
                errors.append(self._give_up(oldest, "too many split uploads waiting"))
            pending = self._pending[key] = _Pending(frame.pnum, now)
        # A packet sent twice (a retry) keeps its first copy.
        pending.parts.setdefault(frame.pno, frame)
        if len(pending.parts) < pending.pnum:
            return [], errors
        del self._pending[key]
        return [_joined([pending.parts[n] for n in sorted(pending.parts)])], errors

    def expire(self, now: float) -> list[FrameError]:
        """Give up on uploads whose first packet came more than ``timeout_s`` ago."""
        late = [k for k, p in self._pending.items() if now - p.first_seen > self.timeout_s]
        return [self._give_up(key, f"no complete set within {self.timeout_s:g} s") for key in late]

    def _give_up(self, key: _Key, why: str) -> FrameError:
        pending = self._pending.pop(key)
        mn, cn, qn = key
        have = ",".join(str(n) for n in sorted(pending.parts))
        return FrameError(
            Reason.SPLIT_TIMEOUT,
            f"MN {mn} CN {cn} QN {qn}: packets {have} of {pending.pnum}; {why}",
            b"".join(p.segment for p in pending.parts.values())[:4096],
        )


def _joined(parts: list[Frame]) -> Frame:
    fields: dict[str, str] = {}
    factors: dict[str, dict[str, str]] = {}
    for part in parts:
        for name, value in part.cp.fields.items():
            fields.setdefault(name, value)
        for code, values in part.cp.factors.items():
            known = factors.setdefault(code, {})
            for name, value in values.items():
                known.setdefault(name, value)
    first = parts[0]
    return first._replace(
        pnum=None,
        pno=None,
        cp=CpData(fields, factors),
        segment=b"".join(part.segment for part in parts),
    )
