"""Frames out of a TCP byte stream by ``##`` and the length field: a pure incremental framer."""

from __future__ import annotations

from envgrid_common.hj212.crc import detect_crc
from envgrid_common.hj212.errors import FrameError, Reason
from envgrid_common.hj212.frame import MAX_SEGMENT, MAX_SEGMENT_TOLERATED
from envgrid_common.hj212.tolerance import Tolerance

_HEX = b"0123456789abcdefABCDEF"
_GARBAGE_KEPT = 256  # bytes of a refused run kept in its error, for the dead letter


class StreamFramer:
    """Feed bytes as they arrive; get back raw frames (for :func:`parse_frame`) and errors.

    Work and memory are bounded: each byte is looked at a bounded number of times, and at
    most one frame (6 + max segment + 4 + 2 bytes) is held. A frame whose length field
    overstates its size is cut at the first CR or LF inside it (the data segment has none),
    so one bad frame does not swallow the next one.
    """

    def __init__(self, *, tolerance: Tolerance = Tolerance.NONE, max_segment: int | None = None):
        if max_segment is None:
            max_segment = MAX_SEGMENT_TOLERATED if tolerance & Tolerance.OVERSIZE else MAX_SEGMENT
        self.max_segment = max_segment
        self.tolerance = tolerance
        self._buffer = bytearray()
        self._scanned = 0  # bytes after the current header already searched for a line end
        self._garbage = bytearray()  # the start of a run of bytes outside any frame
        self._garbage_size = 0
        self._absorb = False  # the bytes up to the next header belong to a refused header

    @property
    def pending(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Add received bytes; return the frames and errors they complete, in stream order."""
        self._buffer += data
        out: list[bytes | FrameError] = []
        while self._step(out):
            pass
        return out

    def close(self) -> list[bytes | FrameError]:
        """The stream ended (or went idle): what is held is a truncated frame, if anything.

        Under ``Tolerance.LENGTH`` a held frame is handed out for the parser to judge, as its
        length field may be the only thing wrong with it.
        """
        held = bytes(self._buffer).strip(b"\r\n\t ")
        self._buffer.clear()
        self._scanned = 0
        out: list[bytes | FrameError] = []
        if not held.startswith(b"##"):
            self._note_garbage(held)
            held = b""
        self._flush_garbage(out)
        if not held:
            return out
        if self.tolerance & Tolerance.LENGTH:
            out.append(held)
        else:
            out.append(FrameError(Reason.TRUNCATED, f"{len(held)} bytes at the end", held[:1040]))
        return out

    def _step(self, out: list[bytes | FrameError]) -> bool:
        buffer = self._buffer
        start = buffer.find(b"##")
        if start < 0:
            # Keep a last '#' that may begin the next header; the rest is noise or line ends.
            keep = 1 if buffer.endswith(b"#") else 0
            self._note_garbage(bytes(buffer[: len(buffer) - keep]))
            del buffer[: len(buffer) - keep]
            self._scanned = 0
            return False
        if start:
            self._note_garbage(bytes(buffer[:start]))
            del buffer[:start]
            self._scanned = 0
        self._flush_garbage(out)
        if len(buffer) < 6:
            return False
        length = bytes(buffer[2:6])
        if not length.isdigit():
            out.append(FrameError(Reason.BAD_LENGTH_FIELD, f"{length!r}", bytes(buffer[:64])))
            del buffer[:2]  # resynchronise on the next "##"
            self._scanned = 0
            self._absorb = True
            return True
        declared = int(length)
        if declared > self.max_segment:
            out.append(
                FrameError(Reason.OVERSIZE, f"length field says {declared}", bytes(buffer[:64]))
            )
            del buffer[:2]
            self._scanned = 0
            self._absorb = True
            return True
        total = 6 + declared + 4
        limit = min(total, len(buffer))
        cut = _line_end(buffer, 6 + self._scanned, limit)
        if cut >= 0:
            # The length field overstates: the frame ends at its line end; the parser says so.
            out.append(bytes(buffer[:cut]))
            del buffer[:cut]
            self._scanned = 0
            return True
        if len(buffer) < total:
            self._scanned = max(0, limit - 6)
            return False
        if self.tolerance & Tolerance.LENGTH:
            return self._understated(total, out)
        out.append(bytes(buffer[:total]))
        del buffer[:total]
        self._scanned = 0
        return True

    def _understated(self, total: int, out: list[bytes | FrameError]) -> bool:
        # The length field may understate: a frame not followed by a line end or the next
        # header runs on to its line end (within the size bound).
        buffer = self._buffer
        if _crc_checks(bytes(buffer[:total])):
            end = total  # as declared: a device that waits for its answer gets it now
        elif len(buffer) == total:
            self._scanned = total - 6
            return False
        elif buffer[total] in b"\r\n#":
            end = total
        else:
            bound = 6 + self.max_segment + 4
            end = _line_end(buffer, total, min(len(buffer), bound + 1))
            if end < 0:
                if len(buffer) <= bound:
                    self._scanned = total - 6
                    return False
                end = total
        out.append(bytes(buffer[:end]))
        del buffer[:end]
        self._scanned = 0
        return True

    def _note_garbage(self, run: bytes) -> None:
        # Line ends and blanks between frames are not garbage; a run is reported once, when
        # the next header (or the end) shows where it stops, however the stream was split.
        if self._absorb or (not self._garbage_size and not run.strip(b"\r\n\t ")):
            return
        if not self._garbage_size:
            run = run.lstrip(b"\r\n\t ")
        self._garbage_size += len(run)
        self._garbage += run[: _GARBAGE_KEPT - len(self._garbage)]

    def _flush_garbage(self, out: list[bytes | FrameError]) -> None:
        self._absorb = False
        if self._garbage_size:
            size, kept = self._garbage_size, bytes(self._garbage)
            self._garbage_size = 0
            self._garbage.clear()
            out.append(FrameError(Reason.NO_HEADER, f"{size} bytes outside any frame", kept))


def _crc_checks(frame: bytes) -> bool:
    printed = frame[-4:]
    if len(frame) < 10 or printed.translate(None, _HEX):
        return False
    return detect_crc(frame[6:-4], int(printed, 16)) is not None


def _line_end(buffer: bytearray, start: int, stop: int) -> int:
    cr = buffer.find(b"\r", start, stop)
    lf = buffer.find(b"\n", start, stop)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)
