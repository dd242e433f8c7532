"""``envgrid hj212 replay``: stream a file of frames to a listener over TCP and count answers.

Each line is sent as recorded (with CRLF), one TCP connection per MN as the devices held
them (or one for all), at the pace the lines' time-stamp prefixes recorded or as fast as
the link takes them. Answers (9014/9013, or anything else) are read and matched by QN.
``retime`` shifts a log's times by whole days (re-computing the CRC of frames that checked)
so an archive older than the gateway's plausibility window can still be stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from envgrid_common.hj212 import (
    EXPLANATIONS,
    Frame,
    FrameError,
    Reason,
    StreamFramer,
    crc_text,
    format_time,
    parse_frame,
    parse_time,
    required_answer,
)
from envgrid_common.hj212.times import CHINA

_MN = re.compile(rb"MN=([^;&]*)")
# Time fields a retimed frame has shifted (header QN and CP times; 14 or 17 digits).
_TIMES = re.compile(
    rb"((?:^|[;&])QN=|DataTime=|BeginTime=|EndTime=|SampleTime=)([0-9]{17}|[0-9]{14})\b"
)
_ANSWERS = frozenset(("9013", "9014"))


def prefix_time(prefix: bytes) -> datetime | None:
    """The time a line's prefix records (China time unless it says otherwise), or None.

    Accepted: ``2016-08-24 00:00:01[.123]`` (``T`` or ``/`` too), with or without brackets,
    an ISO offset, a trailing ``:``/``->``/direction word; or a 14/17-digit HJ 212 stamp.
    """
    text = prefix.decode("utf-8", "replace").strip().strip("[]<>:- \t")
    if not text:
        return None
    candidate = text.split("]")[0].strip("[ ")
    digits = candidate.replace(" ", "")
    if digits.isdigit() and len(digits) in (14, 17):
        try:
            return parse_time(digits)
        except ValueError:
            return None
    for head in (candidate, " ".join(candidate.split()[:2])):
        try:
            parsed = datetime.fromisoformat(head.replace("/", "-"))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)
    return None


@dataclass(frozen=True, slots=True)
class ReplayLine:
    """One line to send: its bytes (prefix removed), the MN and time it records, its verdict."""

    number: int
    data: bytes
    mn: str | None
    at: datetime | None
    frame: Frame | None
    error: FrameError | None

    @property
    def wants_answer(self) -> bool:
        """A listener must answer it (Flag's A bit on an upload or a notification)."""
        return self.frame is not None and required_answer(self.frame) is not None

    @property
    def qn(self) -> str | None:
        """The QN an answer will carry."""
        if self.frame is None:
            return None
        # 2005-era notifications and answers carry the QN in CP.
        return self.frame.qn or self.frame.cp.fields.get("QN")


def shift_frame(frame: Frame, raw: bytes, days: int) -> bytes:
    """``raw`` (a frame that checked) with its time fields ``days`` later and its CRC redone.

    Field lengths do not change, so the length field stays right; the CRC is computed in
    the frame's own mode, so a device's CRC dialect is kept.
    """
    delta = timedelta(days=days)

    def later(match: re.Match[bytes]) -> bytes:
        stamp = match.group(2).decode()
        try:
            moved = format_time(parse_time(stamp) + delta, milliseconds=len(stamp) == 17)
        except (ValueError, OverflowError):
            return match.group(0)
        return match.group(1) + moved.encode()

    start = raw.index(b"##") + 6
    segment = raw[start : start + len(frame.segment)]
    shifted = _TIMES.sub(later, segment)
    if shifted == segment:
        return raw
    tail = raw[start + len(segment) + 4 :]
    return raw[:start] + shifted + crc_text(frame.crc_mode, shifted) + tail


def read_replay(
    lines: Iterable[tuple[int, bytes]], *, retime_days: int = 0
) -> Iterator[ReplayLine]:
    """Each numbered line as a :class:`ReplayLine`; ``retime_days`` shifts frames that check."""
    for number, line in lines:
        start = line.find(b"##")
        prefix, data = (line[:start], line[start:]) if start > 0 else (b"", line)
        match = _MN.search(data)
        mn = match.group(1).decode("utf-8", "replace") if match else None
        frame: Frame | None = None
        error: FrameError | None = None
        try:
            frame = parse_frame(data)
        except FrameError as refused:
            error = refused
        if frame is not None and retime_days:
            data = shift_frame(frame, data, retime_days)
            frame = parse_frame(data)
        yield ReplayLine(number, data, mn, prefix_time(prefix) if prefix else None, frame, error)


def days_to_yesterday(lines: Iterable[ReplayLine], today: datetime) -> int:
    """Whole days that move the log's first time (prefix, else DataTime) to yesterday."""
    for line in lines:
        first = line.at
        if first is None and line.frame is not None and line.frame.data_time:
            with contextlib.suppress(ValueError):
                first = parse_time(line.frame.data_time)
        if first is not None and first.year > 2000:
            return max(
                0, (today.astimezone(CHINA).date() - first.astimezone(CHINA).date()).days - 1
            )
    return 0


@dataclass
class ReplayStats:
    """What a replay did."""

    lines: int = 0
    sent: int = 0
    bytes_sent: int = 0
    not_sent: int = 0  # no connection could be made for the line's MN
    checked_ok: int = 0  # lines the codec accepts, checked here as the listener will
    checked_refused: Counter[Reason] = field(default_factory=Counter)
    wanting_answer: int = 0
    answered: int = 0  # answers matched to a frame sent that wanted one
    answers: Counter[str] = field(default_factory=Counter)  # frames received, by CN
    unreadable: int = 0  # bytes from the listener that were no frame
    connections: int = 0
    connect_failures: int = 0
    closed_by_peer: int = 0
    mns: set[str] = field(default_factory=set)
    elapsed_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The summary as one JSON object."""
        return {
            "lines": self.lines,
            "sent": self.sent,
            "bytes_sent": self.bytes_sent,
            "not_sent": self.not_sent,
            "checked_ok": self.checked_ok,
            "checked_refused": {r.value: n for r, n in self.checked_refused.most_common()},
            "wanting_answer": self.wanting_answer,
            "answered": self.answered,
            "answers": dict(self.answers),
            "unreadable": self.unreadable,
            "connections": self.connections,
            "connect_failures": self.connect_failures,
            "closed_by_peer": self.closed_by_peer,
            "mns": len(self.mns),
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def progress(self, total: int) -> str:
        """One progress line."""
        share = 100.0 * self.lines / total if total else 100.0
        rate = self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"replay: {self.lines}/{total} lines ({share:.0f} %), sent {self.sent}, "
            f"answered {self.answered}/{self.wanting_answer}, {rate:.0f} frames/s, "
            f"{self.connections} connections, {self.elapsed_s:.1f} s"
        )

    def text(self) -> str:
        """The closing summary."""
        rate = self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        refused = sum(self.checked_refused.values())
        rows = [
            f"lines: {self.lines}, frames sent {self.sent} ({self.bytes_sent} bytes) in "
            f"{self.elapsed_s:.1f} s, {rate:.0f} frames/s; not sent {self.not_sent}",
            f"devices (MN): {len(self.mns)}; connections {self.connections}, failed "
            f"{self.connect_failures}, closed by the listener {self.closed_by_peer}",
            f"answers wanted {self.wanting_answer}, answered {self.answered}; received: "
            + (", ".join(f"{cn} {n}" for cn, n in self.answers.most_common()) or "none")
            + (f"; unreadable {self.unreadable}" if self.unreadable else ""),
            f"checked here as the listener does: accepted {self.checked_ok}, refused {refused}",
        ]
        rows += [
            f"  {reason.value:18} {count:6}  {EXPLANATIONS[reason]}"
            for reason, count in self.checked_refused.most_common()
        ]
        return "\n".join(rows)


class _Link:
    """One TCP connection of the replay, with a task reading its answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reading: asyncio.Task[None] | None = None
        self.closed = False


class Replayer:
    """Sends :class:`ReplayLine` s to ``host:port`` and reads the answers."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        per_mn: bool = True,
        recorded_pace: bool = False,
        speed: float = 1.0,
        connect_timeout_s: float = 10.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.host = host
        self.port = port
        self.per_mn = per_mn
        self.recorded_pace = recorded_pace
        self.speed = speed
        self.connect_timeout_s = connect_timeout_s
        self.on_event = on_event
        self.stats = ReplayStats()
        self._links: dict[str, _Link] = {}
        self._failed: set[str] = set()
        # Frames sent that want an answer: (MN, CN, QN), oldest first.
        self._waiting: list[tuple[str, str, str | None]] = []
        self._answered = asyncio.Event()
        self._started = 0.0

    def _say(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    async def _link(self, key: str) -> _Link | None:
        link = self._links.get(key)
        if link is not None and not link.closed:
            return link
        if key in self._failed:
            return None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout_s
            )
        except (OSError, TimeoutError) as error:
            self.stats.connect_failures += 1
            self._failed.add(key)  # one try per MN: a refused device stays refused
            self._say(f"connection for {key or 'all frames'} failed: {error}")
            return None
        self.stats.connections += 1
        link = _Link(reader, writer)
        link.reading = asyncio.create_task(self._read(link))
        self._links[key] = link
        return link

    async def _read(self, link: _Link) -> None:
        framer = StreamFramer()
        try:
            while data := await link.reader.read(65536):
                for item in framer.feed(data):
                    self._on_answer(item)
        except (OSError, ConnectionError):
            pass
        finally:
            if not link.closed:
                self.stats.closed_by_peer += 1
            link.closed = True

    def _on_answer(self, item: bytes | FrameError) -> None:
        if isinstance(item, FrameError):
            self.stats.unreadable += 1
            return
        try:
            frame = parse_frame(item)
        except FrameError:
            self.stats.unreadable += 1
            return
        self.stats.answers[frame.cn] += 1
        qn = frame.qn or frame.cp.fields.get("QN")
        if frame.cn in _ANSWERS:
            # Answers name the QN; a 2005-era one may name only the command (CN in CP).
            cn = frame.cp.fields.get("CN")
            for index, (mn, sent_cn, sent_qn) in enumerate(self._waiting):
                if mn == frame.mn and (sent_qn == qn if qn else sent_cn == cn):
                    del self._waiting[index]
                    self.stats.answered += 1
                    self._answered.set()
                    break
        self._say(f"answer {frame.cn} MN={frame.mn} QN={qn}")

    async def _pace(self, line: ReplayLine, first: datetime | None) -> datetime | None:
        if not self.recorded_pace or line.at is None:
            return first
        if first is None:
            return line.at
        due = self._started + (line.at - first).total_seconds() / self.speed
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        return first

    async def send(self, lines: Iterable[ReplayLine]) -> None:
        """Send every line in order (at the pace asked for)."""
        self._started = time.monotonic()
        first: datetime | None = None
        stats = self.stats
        for line in lines:
            first = await self._pace(line, first)
            stats.lines += 1
            if line.frame is not None:
                stats.checked_ok += 1
            elif line.error is not None:
                stats.checked_refused[line.error.reason] += 1
            if line.mn:
                stats.mns.add(line.mn)
            key = (line.mn or "") if self.per_mn else ""
            link = await self._link(key)
            if link is None:
                stats.not_sent += 1
                continue
            payload = line.data if line.data.endswith(b"\n") else line.data + b"\r\n"
            link.writer.write(payload)
            try:
                await link.writer.drain()
            except (OSError, ConnectionError):
                link.closed = True
                stats.not_sent += 1
                continue
            stats.sent += 1
            stats.bytes_sent += len(payload)
            if line.frame is not None and line.wants_answer:
                stats.wanting_answer += 1
                self._waiting.append((line.frame.mn, line.frame.cn, line.qn))
            self._say(
                f"sent line {line.number}: "
                + (f"CN={line.frame.cn} MN={line.frame.mn}" if line.frame else f"MN={line.mn}")
            )
            stats.elapsed_s = time.monotonic() - self._started

    async def wait_answers(self, timeout_s: float) -> None:
        """Wait until every frame that wanted an answer has one, or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._waiting and (left := deadline - time.monotonic()) > 0:
            self._answered.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), left)

    async def close(self, linger_s: float = 0.2) -> None:
        """Close every connection (after ``linger_s`` for late answers)."""
        if linger_s > 0:
            await asyncio.sleep(linger_s)
        for link in self._links.values():
            link.closed = True
            link.writer.close()
        for link in self._links.values():
            with contextlib.suppress(OSError, ConnectionError):
                await link.writer.wait_closed()
            if link.reading is not None:
                link.reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link.reading
        self.stats.elapsed_s = time.monotonic() - self._started
