"""One HJ 212 connection's frames: checked, matched to a device, forwarded, answered once safe."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import (
    Frame,
    FrameError,
    QnRtn,
    SplitReassembler,
    StreamFramer,
    Tolerance,
    parse_frame,
    request_answer,
    required_answer,
)
from envgrid_common.hj212.frame import MAX_SEGMENT_TOLERATED
from envgrid_gateway.adapters.hj212.devices import Device
from envgrid_gateway.adapters.hj212.hub import Hub
from envgrid_gateway.adapters.hj212.mapping import READING_COMMANDS, map_upload

_MN = re.compile(rb"MN=([0-9A-Za-z]{1,24});")
HEARTBEATS = frozenset(("9015", "8013"))
"""2025's heartbeat and the local one seen in the field: liveness only."""
ANSWERS = frozenset(("9011", "9012", "9013", "9014"))
"""Answers a device sends to a platform's commands: the gateway sends none, so they are counted."""


class Session:
    """Bytes in, frames out: ``send`` writes an answer to the device, ``close`` ends it."""

    def __init__(
        self,
        hub: Hub,
        peer: str,
        number: int,
        send: Callable[[bytes], None],
        clock: Callable[[], float],
    ) -> None:
        self.hub = hub
        self.peer = peer
        self.number = number  # this connection's id in the liveness table
        self._send = send
        self._clock = clock
        s = hub.settings
        # Until a frame says which device this is, frame as its table allows some device to.
        allowed = hub.devices.tolerance
        oversize = bool(allowed & Tolerance.OVERSIZE)
        self.framer = StreamFramer(
            tolerance=allowed & Tolerance.LENGTH,
            max_segment=MAX_SEGMENT_TOLERATED if oversize else s.hj212_max_segment,
        )
        self._splits = SplitReassembler(timeout_s=s.hj212_split_timeout_s)
        self._device: Device | None = None  # the last registered device seen here
        self.refused_in_a_row = 0
        self.closed = False
        self._backlog: deque[bytes | FrameError] = deque()

    # -- bytes ---------------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Frames received and held back while the disk buffer has too many of ours."""
        return len(self._backlog)

    def feed(self, data: bytes) -> None:
        """Handle received bytes (as far as the bound of frames awaiting the disk allows)."""
        self._backlog.extend(self.framer.feed(data))
        self.drain()

    def drain(self) -> None:
        """Handle held-back frames while fewer than the bound await the disk buffer."""
        bound = self.hub.settings.hj212_max_unanswered
        while self._backlog and (self.hub.unanswered < bound or self.closed):
            self._item(self._backlog.popleft())

    def end(self) -> None:
        """The stream ended or timed out: what the framer holds is a truncated frame."""
        self._backlog.extend(self.framer.close())
        self.closed = True
        self.drain()  # held frames go to the bridge; their answers are not sent

    def tick(self) -> None:
        """Give up on split uploads that waited too long."""
        for error in self._splits.expire(self._clock()):
            self._refuse(None, error.raw, f"{error.reason.value}: {error.message}")

    def _item(self, item: bytes | FrameError) -> None:
        if isinstance(item, FrameError):
            self._refuse(None, item.raw, f"{item.reason.value}: {item.message}")
            return
        self.hub.stats.add("hj212_frames")
        try:
            frame = parse_frame(item, tolerance=self._tolerance_for(item))
        except FrameError as error:
            self._refuse(_mn_of(item), item, f"{error.reason.value}: {error.message}")
            return
        self._frame(frame, item)

    def _tolerance_for(self, raw: bytes) -> Tolerance:
        # Deviations are allowed per device, so the MN is read before the frame is judged.
        mn = _mn_of(raw)
        device = self.hub.devices.get(mn) if mn else None
        return device.tolerance if device is not None else Tolerance.NONE

    # -- frames --------------------------------------------------------------------------------

    def _frame(self, frame: Frame, raw: bytes) -> None:
        hub = self.hub
        device = hub.devices.get(frame.mn)
        if device is None:
            if hub.pending.note(frame.mn):
                why = (
                    f"pending_registration: MN {frame.mn} is not in the device table; its frames "
                    "are counted (hj212_pending_mn.*), not answered and not forwarded"
                )
                self._letter(frame.mn, raw, why)
            return
        problem = self._check(device, frame)
        if problem is not None:
            self._refuse(frame.mn, raw, problem)
            if problem.startswith("wrong_password") and frame.ack_requested:
                self._send(request_answer(frame, QnRtn.PW_ERROR, crc=frame.crc_mode))
            return
        self.refused_in_a_row = 0
        self._adopt(device)
        hub.liveness.seen(device.node_id, self.number)
        hub.stats.add(f"hj212_cn_{frame.cn}")
        if frame.split:
            frames, errors = self._splits.add(frame, self._clock())
            for error in errors:
                self._refuse(frame.mn, error.raw, f"{error.reason.value}: {error.message}")
            for joined in frames:
                self._upload(device, joined, raw)
            return
        self._upload(device, frame, raw)

    def _check(self, device: Device, frame: Frame) -> str | None:
        if frame.pw != device.password:
            return f"wrong_password: MN {frame.mn} sent a password that is not its own"
        if device.editions and frame.edition not in device.editions:
            expected = ", ".join(sorted(e.value for e in device.editions))
            return f"unexpected_edition: {frame.edition.value}, device set to {expected}"
        if not self.hub.devices.learn_crc(device, frame.crc_mode, frame.segment):
            assert device.crc is not None
            return (
                f"crc_mode: the CRC checks as {frame.crc_mode.value}, the device's is "
                f"{device.crc.value} (a frame damaged in transit, or a reconfigured device)"
            )
        return None

    def _adopt(self, device: Device) -> None:
        if device is self._device:
            return
        self._device = device
        # This connection's device may miscount lengths or exceed 1024 bytes: frame it so.
        self.framer.tolerance = device.tolerance
        oversize = bool(device.tolerance & Tolerance.OVERSIZE)
        self.framer.max_segment = (
            MAX_SEGMENT_TOLERATED if oversize else self.hub.settings.hj212_max_segment
        )

    def _upload(self, device: Device, frame: Frame, raw: bytes) -> None:
        hub = self.hub
        # In the device's own mode (a MODBUS CRC of equal bytes fits both byte orders).
        answer = required_answer(frame, crc=device.crc or frame.crc_mode)
        if frame.cn not in READING_COMMANDS:
            if frame.cn in HEARTBEATS:
                hub.stats.add("hj212_heartbeats")
            if answer is not None:
                self._send(answer)  # nothing to keep: answer at once
            return
        mapped = map_upload(
            frame,
            units=device.units,
            now=utc_now(),
            historical_after_s=hub.settings.hj212_historical_after_s,
        )
        if mapped.unmapped:
            hub.stats.add("hj212_unmapped_codes", len(mapped.unmapped))
        answered = self._answer_once_stored(answer)
        if mapped.reading is None:
            # Kept as a dead letter (the raw frame and why), then answered: resending it would
            # only bring the same refusal.
            assert mapped.refused is not None
            self._letter(frame.mn, _whole(frame, raw), mapped.refused, answered)
            return
        hub.stats.add("hj212_readings")
        if mapped.reading.historical:
            hub.stats.add("hj212_historical")
        hub.forward_reading(device.node_id, mapped.reading, answered)

    def _answer_once_stored(self, answer: bytes | None) -> Callable[[], None]:
        def answered() -> None:
            if answer is not None and not self.closed:
                self.hub.stats.add("hj212_answers")
                self._send(answer)

        return answered

    # -- refusals ------------------------------------------------------------------------------

    def _refuse(self, mn: str | None, raw: bytes, reason: str) -> None:
        self.hub.stats.add("hj212_refused")
        self.refused_in_a_row += 1
        self._letter(mn, raw, reason)

    def _letter(
        self, mn: str | None, raw: bytes, reason: str, stored: Callable[[], None] | None = None
    ) -> None:
        where = f"{self.peer}/{mn or '-'}"
        if stored is None:
            self.hub.dead_letter(where, raw, reason)
        else:
            self.hub.dead_letter(where, raw, reason, stored)


def _mn_of(raw: bytes) -> str | None:
    found = _MN.search(raw, 0, 200)
    return found.group(1).decode("ascii") if found else None


def _whole(frame: Frame, raw: bytes) -> bytes:
    """The bytes to keep for a refused upload: the frame as received (joined, if split)."""
    return raw if frame.segment in raw else frame.segment
