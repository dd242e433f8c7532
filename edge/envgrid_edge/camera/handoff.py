"""Frames from the reader to the analyser: one at a time, replaced or waited for."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from envgrid_edge.camera.events import Frame

_WAIT_S = 0.2


@dataclass(frozen=True, slots=True)
class Grabbed:
    """A frame as read: its time on the source's clock and on the wall clock."""

    frame: Frame
    at: float
    wall: datetime


class FrameSlot:
    """One frame between reader and analyser: replaced if ``drop``, else waited for."""

    def __init__(self, drop: bool) -> None:
        self._drop = drop
        self._item: Grabbed | None = None
        self._ended = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Grabbed, halt: threading.Event) -> bool:
        """Hand over ``item``; False if ``halt`` came while waiting for room."""
        with self._cond:
            if self._drop:
                self.dropped += self._item is not None
            else:
                while self._item is not None:
                    if halt.is_set():
                        return False
                    self._cond.wait(_WAIT_S)
            self._item = item
            self._cond.notify_all()
            return True

    def end(self) -> None:
        """No more frames will come."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def take(self, timeout_s: float) -> Grabbed | None:
        """The next frame, or None after ``timeout_s``."""
        with self._cond:
            if self._item is None and not self._ended:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    @property
    def ended(self) -> bool:
        """Whether the reader is done and its last frame taken."""
        with self._cond:
            return self._ended and self._item is None
